package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mongosession/mongosession"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Parse(pageHTML))

// logoSVG is the page's logo and the favicon.
const logoSVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" aria-hidden="true">` +
	`<circle cx="32" cy="32" r="30" fill="#0f7b5f"/>` +
	`<circle cx="32" cy="32" r="19" fill="none" stroke="#fff" stroke-width="6" stroke-dasharray="90 30" transform="rotate(-40 32 32)"/>` +
	`<path d="M50 17l3 15-14-5z" fill="#fff"/><circle cx="32" cy="32" r="6" fill="#f5b841"/></svg>`

// appConfig configures newApp. Zero fields take the defaults stated.
type appConfig struct {
	URI        string        // MongoDB connection string; required
	Database   string        // default "demo"
	Collection string        // default "sessions"
	TokenTTL   time.Duration // default mongosession.DefaultTokenTTL
	Logger     *slog.Logger  // default slog.Default()
}

// app is the demo: a session manager, its routes and the security events it has seen.
type app struct {
	cfg     appConfig
	client  *mongo.Client
	store   *mongosession.MongoStore
	mgr     *mongosession.Manager
	handler http.Handler // the routes under the session middleware
	probe   http.Handler // what a replayed cookie is tried against (replay.go)
	events  *eventLog
	copies  *cookieCopies
}

func newApp(ctx context.Context, cfg appConfig) (*app, error) {
	if cfg.Database == "" {
		cfg.Database = "demo"
	}
	if cfg.Collection == "" {
		cfg.Collection = "sessions"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// ClientOptions: short timeouts, so that the demo recovers within about 2 s of a database outage.
	client, err := mongo.Connect(mongosession.ClientOptions(cfg.URI))
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, client: client, events: newEventLog(), copies: newCookieCopies()}
	coll := client.Database(cfg.Database).Collection(cfg.Collection)
	if a.store, err = mongosession.NewMongoStore(ctx, coll, mongosession.StoreOptions{}); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	key := make([]byte, 32) // development only: a new random key at each start
	_, _ = rand.Read(key)
	a.mgr, err = mongosession.New(a.store, mongosession.Options{
		TokenTTL:         cfg.TokenTTL,
		InsecureCookie:   true, // the demo serves plain http on loopback
		CookieKeys:       [][]byte{key},
		StartInCookie:    true, // anonymous visitors start in the cookie
		RecordClientInfo: true, // for "your devices"
		Logger:           cfg.Logger,
		OnSecurityEvent: func(e mongosession.SecurityEvent) {
			a.events.add(e)
			cfg.Logger.Warn("demo: security event", "kind", string(e.Kind), "session", e.Session, "remote", e.RemoteAddr)
		},
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	a.handler = a.mgr.Middleware(a.routes())
	a.probe = a.mgr.Middleware(http.HandlerFunc(probeSession))
	return a, nil
}

// Close stops the store's background work and disconnects from the database.
func (a *app) Close() {
	_ = a.store.Close()
	_ = a.client.Disconnect(context.Background())
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// cookieName is the session cookie's name (the manager's, after defaults).
func (a *app) cookieName() string { return a.mgr.Options().CookieName }

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		_ = mongosession.FromContext(r.Context()).Destroy()
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /promote", func(w http.ResponseWriter, r *http.Request) {
		_ = mongosession.FromContext(r.Context()).Promote() // anonymous, but kept in MongoDB from now on
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /devices/revoke", a.revokeDevice)
	mux.HandleFunc("POST /devices/revoke-others", a.revokeOthers)
	mux.HandleFunc("POST /replay", a.replay)
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		// Untouched session: costs the database nothing.
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Header().Set("Cache-Control", "max-age=86400")
		_, _ = w.Write([]byte(logoSVG))
	})
	return mux
}

// dataRow is one key of the session's data as the page shows it.
type dataRow struct{ Key, Value, Type string }

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	s := mongosession.FromContext(r.Context())
	visits, err := s.Incr("visits", 1)
	if err != nil {
		return // the middleware answers 503
	}
	flash, _ := s.GetString("flash")
	if flash != "" {
		_ = s.Delete("flash") // shown once
	}
	previous, _ := s.GetString("previous") // the session a replay revoked (replay.go)
	user, _ := s.User()
	var rows []dataRow
	keys, _ := s.Keys()
	slices.Sort(keys)
	for _, k := range keys {
		v, _ := s.Get(k)
		if k == "visits" {
			v = visits // this request's value, increment included
		}
		rows = append(rows, showValue(k, v))
	}
	sent := ""
	if c, err := r.Cookie(a.cookieName()); err == nil {
		sent = c.Value
	}

	// Commit now, so that the page can show the cookie this response sets (a rotation, a new session).
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	held, rotated := sent, false
	if v, ok := setCookieValue(w.Header(), a.cookieName()); ok {
		held, rotated = v, v != sent
	}

	mode := s.Mode()
	age, _ := s.TokenAge()
	ttl := a.mgr.Options().TokenTTL
	data := map[string]any{
		"Logo": template.HTML(logoSVG), "Flash": flash, "Visits": visits, "Mode": mode.String(), "User": user,
		"Data": rows, "Fingerprint": fingerprintOf(held), "Previous": fingerprintOf(sent), "Rotated": rotated,
		"Age": fmt.Sprintf("%.1f s", age.Seconds()), "TTL": ttl, "Due": age >= ttl,
		"AgePercent": min(100, int(100*age/max(ttl, 1))), "Kept": a.mgr.Options().TokensKept,
		"DatabaseURI": redactURI(a.cfg.URI), "DatabaseName": a.cfg.Database,
	}
	if mode == mongosession.ModeDatabase {
		if id := s.ID(); id != "" {
			hash := mongosession.SessionHash(id)
			data["Hash"] = hash
			data["Events"] = a.events.view(hash)
			now := a.mgr.Options().Clock()
			a.copies.remember(hash, held, now)
			data["ReplayNote"] = a.copies.note(hash, a.mgr.Options().TokensKept, ttl, now)
			if user != "" {
				devices, err := a.devices(r.Context(), user, id)
				data["Devices"], data["DevicesErr"] = devices, err
			}
		}
	}
	// The revoked session's events stay worth reading after the new session began.
	if previous != "" {
		events := a.events.view(previous)
		data["PreviousHash"], data["PreviousEvents"] = previous, events
		data["PreviousRevoked"] = slices.ContainsFunc(events, func(e eventView) bool {
			return e.Kind == mongosession.EventSessionRevoked
		})
	}
	if err := page.Execute(w, data); err != nil {
		a.cfg.Logger.Error("demo: rendering the page", "err", err)
	}
}

// showValue renders one session value and its BSON type.
func showValue(key string, v any) dataRow {
	switch v := v.(type) {
	case time.Time:
		return dataRow{Key: key, Value: v.UTC().Format("2006-01-02 15:04:05 UTC"), Type: "date"}
	case bson.DateTime:
		return dataRow{Key: key, Value: v.Time().UTC().Format("2006-01-02 15:04:05 UTC"), Type: "date"}
	case int64:
		return dataRow{Key: key, Value: fmt.Sprint(v), Type: "int64"}
	case string:
		return dataRow{Key: key, Value: v, Type: "string"}
	}
	return dataRow{Key: key, Value: fmt.Sprint(v), Type: fmt.Sprintf("%T", v)}
}

// redactURI hides the credentials of a connection string, which the page and the console must not show.
func redactURI(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return uri
	}
	authority, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		authority = "xxxxx@" + authority[at+1:]
	}
	if strings.Contains(rest, "/") {
		path = "/" + path
	}
	return scheme + "://" + authority + path
}

// setCookieValue returns the value of the cookie name that the response headers set (not one they clear).
func setCookieValue(h http.Header, name string) (string, bool) {
	for _, line := range h.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err == nil && c.Name == name && c.MaxAge >= 0 && c.Value != "" {
			return c.Value, true
		}
	}
	return "", false
}

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	s := mongosession.FromContext(r.Context())
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" || len(name) > 40 {
		http.Error(w, "a name of 1 to 40 characters, please", http.StatusBadRequest)
		return
	}
	if err := s.Put("logged_in_at", time.Now().UTC().Truncate(time.Second)); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.SetUser(name) // indexed: Manager.Sessions and `mongosession list --user NAME` find this session
	_ = s.Renew()   // new id and token at login: no session fixation; a cookie-mode session moves to MongoDB
	_ = s.Put("flash", "Logged in as "+name+": new session id and token (Renew), now stored in MongoDB.")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// device is one row of "your devices".
type device struct {
	Hash, Label, Address, LastSeen string
	Current                        bool
}

func (a *app) devices(ctx context.Context, user, currentID string) ([]device, error) {
	list, err := a.mgr.Sessions(ctx, user)
	if err != nil {
		return nil, err
	}
	// This device first, then the most recently seen.
	slices.SortStableFunc(list, func(x, y mongosession.SessionInfo) int {
		if (x.ID == currentID) != (y.ID == currentID) {
			if x.ID == currentID {
				return -1
			}
			return 1
		}
		return y.LastSeen.Compare(x.LastSeen)
	})
	out := make([]device, 0, len(list))
	for _, info := range list {
		out = append(out, device{Hash: mongosession.SessionHash(info.ID), Label: deviceLabel(info.UserAgent),
			Address: info.RemoteAddr, LastSeen: ago(time.Since(info.LastSeen)), Current: info.ID == currentID})
	}
	return out, nil
}

// revokeDevice ends one other session of the logged-in user, named by its hash (the page never shows ids).
func (a *app) revokeDevice(w http.ResponseWriter, r *http.Request) {
	s := mongosession.FromContext(r.Context())
	user, err := s.User()
	if err != nil || user == "" {
		http.Error(w, "log in first", http.StatusForbidden)
		return
	}
	list, err := a.mgr.Sessions(r.Context(), user)
	if err != nil {
		http.Error(w, "listing sessions: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	want, current := r.PostFormValue("device"), s.ID()
	msg := "That device has no session any more."
	for _, info := range list {
		if info.ID != current && mongosession.SessionHash(info.ID) == want {
			if err := a.mgr.Revoke(r.Context(), info.ID); err != nil {
				http.Error(w, "revoking: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
			msg = "Revoked session " + want + ": that browser is logged out at its next request."
		}
	}
	_ = s.Put("flash", msg)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// revokeOthers ends every session of the user but this one.
func (a *app) revokeOthers(w http.ResponseWriter, r *http.Request) {
	s := mongosession.FromContext(r.Context())
	user, err := s.User()
	if err != nil || user == "" {
		http.Error(w, "log in first", http.StatusForbidden)
		return
	}
	n, err := a.mgr.RevokeUser(r.Context(), user, s.ID())
	if err != nil {
		http.Error(w, "revoking: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	_ = s.Put("flash", fmt.Sprintf("Logged out %d other device(s) (RevokeUser, except this session).", n))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// deviceLabel names a browser and system from a User-Agent, roughly: enough to tell devices apart.
func deviceLabel(ua string) string {
	if ua == "" {
		return "unknown device"
	}
	browser := "a browser"
	for _, b := range []struct{ token, name string }{
		{"HeadlessChrome", "Headless Chrome"}, {"Edg/", "Edge"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"},
		{"Safari/", "Safari"}, {"curl/", "curl"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	for _, o := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			return browser + " on " + o.name
		}
	}
	return browser
}

// ago says how long ago, coarsely.
func ago(d time.Duration) string {
	switch {
	case d < 5*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	}
	return fmt.Sprintf("%.1f h ago", d.Hours())
}
