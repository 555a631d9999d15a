// Command demo is a small web app using mongosession with the embedded development database:
// a visit counter, log in by name (Renew), log out (Destroy) and the age of the current token, so that
// rotation is visible. Run it with `make demo` and open http://127.0.0.1:8080.
//
// Cookie mode is on: an anonymous visitor's counter lives in an encrypted cookie (no database work at all)
// until login, or "Move to MongoDB" (Promote), moves the session to the database. The page shows where the
// session is. The cookie key is generated at startup (random for each start, for development only), so
// cookie-mode sessions do not survive a restart of the demo; database sessions do.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"html/template"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/devdb"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>mongosession demo</title>
<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:2em auto}code{background:#eee;padding:0 .3em}</style>
</head><body>
<h1>mongosession demo</h1>
<p>Visits in this session: <strong id="visits">{{.Visits}}</strong></p>
<p>The session is stored in: <strong id="mode">{{.Mode}}</strong>
{{if eq .Mode "cookie"}}(an encrypted cookie: this page cost the database nothing)
<form method="post" action="/promote"><button>Move to MongoDB</button></form>
{{else}}(a MongoDB document; the cookie holds its id and a rotating token){{end}}</p>
{{if .User}}<p>Logged in as <strong id="user">{{.User}}</strong>.</p>
<form method="post" action="/logout"><button>Log out</button></form>
{{else}}<form method="post" action="/login"><label>Name <input name="name" required maxlength="40"></label>
<button>Log in</button></form>{{end}}
{{if eq .Mode "database"}}<p>Session id: <code>{{.ID}}</code><br>
Age of the current token: <strong id="age">{{.Age}}</strong>
{{if .Rotating}}(older than {{.TTL}}: this response carries a new token; reload to see its age){{else}}(rotated after {{.TTL}}; reload to see it){{end}}</p>
{{else}}<p>Sealed <strong id="age">{{.Age}}</strong> ago (resealed on every change).</p>{{end}}
</body></html>`))

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen `address`")
	dir := flag.String("dir", filepath.Join(os.TempDir(), "mongosession-demo"), "embedded database `folder`")
	uri := flag.String("uri", "", "MongoDB `URI` to use instead of the embedded database")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *uri == "" {
		db, err := devdb.Start(ctx, devdb.Config{Dir: *dir})
		if err != nil {
			log.Fatal(err)
		}
		defer db.Close()
		*uri = db.URI()
	}
	client, err := mongo.Connect(options.Client().ApplyURI(*uri))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	store, err := mongosession.NewMongoStore(ctx, client.Database("demo").Collection("sessions"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	key := make([]byte, 32) // development only: a new random key at each start
	_, _ = rand.Read(key)
	mgr, err := mongosession.New(store, mongosession.Options{
		InsecureCookie: true, // the demo serves plain http on loopback
		CookieKeys:     [][]byte{key},
		StartInCookie:  true, // anonymous visitors start in the cookie
	})
	if err != nil {
		log.Fatal(err)
	}

	srv := &http.Server{Addr: *addr, Handler: mgr.Middleware(routes(mgr)), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	slog.Info("demo listening", "url", "http://"+*addr)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

func routes(mgr *mongosession.Manager) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		visits, err := s.Incr("visits", 1)
		if err != nil {
			return // the middleware answers 503
		}
		user, _ := s.GetString("user")
		age, _ := s.TokenAge()
		mode := s.Mode()
		if mode == mongosession.ModeNone {
			mode = mongosession.ModeCookie // a first visit: this response creates it in the cookie
		}
		_ = page.Execute(w, map[string]any{"Visits": visits, "User": user, "ID": s.ID(), "Mode": mode.String(),
			"Age": age.Round(100 * time.Millisecond), "TTL": mgr.Options().TokenTTL,
			"Rotating": mode == mongosession.ModeDatabase && age >= mgr.Options().TokenTTL})
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		name := r.PostFormValue("name")
		if name == "" || len(name) > 40 {
			http.Error(w, "a name of 1 to 40 characters, please", http.StatusBadRequest)
			return
		}
		if err := s.Put("user", name); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.SetUser(name) // indexed: `mongosession list --user NAME` finds this session
		_ = s.Renew()   // new id and token at login: no session fixation; a cookie-mode session moves to MongoDB
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /promote", func(w http.ResponseWriter, r *http.Request) {
		_ = mongosession.FromContext(r.Context()).Promote() // anonymous, but kept in MongoDB from now on
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		_ = mongosession.FromContext(r.Context()).Destroy()
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.NotFound(w, r) // untouched: costs the database nothing
	})
	return mux
}
