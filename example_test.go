package mongosession_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"

	"github.com/mongosession/mongosession"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// The basic setup: one MongoStore, one Manager, and its middleware around the application's handlers. A
// handler gets its session with FromContext; the session is read from MongoDB when the handler first asks
// for data, and its changes are written once, just before the response starts.
func Example() {
	ctx := context.Background()
	client, err := mongo.Connect(mongosession.ClientOptions(mongosession.TestURI)) // your MongoDB URI
	if err != nil {
		log.Fatal(err)
	}
	defer client.Disconnect(ctx)
	store, err := mongosession.NewMongoStore(ctx, client.Database("app").Collection("sessions"), mongosession.StoreOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	sessions, err := mongosession.New(store, mongosession.Options{}) // the defaults suit most applications
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		n, err := mongosession.FromContext(r.Context()).Incr("visits", 1)
		if err != nil {
			return // the database failed: the middleware answers 503
		}
		fmt.Fprintf(w, "visit %d", n)
	})
	// In production: http.ListenAndServeTLS(addr, certFile, keyFile, sessions.Middleware(mux)). The cookie is
	// Secure by default, so it needs https.
	srv := httptest.NewTLSServer(sessions.Middleware(mux))
	defer srv.Close()

	browser := newBrowser(srv)
	for range 3 {
		fmt.Println(get(browser, srv.URL+"/"))
	}
	// Output:
	// visit 1
	// visit 2
	// visit 3
}

// Login: check the credentials, link the session to the user (so that Manager.Sessions and RevokeUser find
// it) and Renew it: a new session id and token, so that a cookie planted before login (session fixation) is
// worth nothing after it. The data stays. RememberMe chooses between a cookie that outlives the browser and
// one that does not.
func ExampleSession_Renew() {
	sessions, cleanup := exampleManager("login", mongosession.Options{})
	defer cleanup()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		name, err := s.GetString("name")
		if err != nil {
			return
		}
		var cart []string
		if err := s.Decode("cart", &cart); err != nil {
			return
		}
		if name == "" {
			name = "stranger"
		}
		fmt.Fprintf(w, "hello %s, your cart: %v", name, cart)
	})
	mux.HandleFunc("POST /cart", func(w http.ResponseWriter, r *http.Request) {
		if err := mongosession.FromContext(r.Context()).Put("cart", []string{r.PostFormValue("item")}); err != nil {
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		user := r.PostFormValue("user") // after checking the password
		s := mongosession.FromContext(r.Context())
		s.SetUser(user)
		if err := errors.Join(s.Put("name", user), s.Renew(), s.RememberMe(r.PostFormValue("remember") == "on")); err != nil {
			http.Error(w, "cannot log in", http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	srv := httptest.NewTLSServer(sessions.Middleware(mux))
	defer srv.Close()

	browser := newBrowser(srv)
	fmt.Println(post(browser, srv.URL+"/cart", url.Values{"item": {"book"}}))
	before := jarCookie(browser, srv)
	fmt.Println(post(browser, srv.URL+"/login", url.Values{"user": {"ada"}, "remember": {"on"}}))
	fmt.Println("new session id after login:", sessionID(jarCookie(browser, srv)) != sessionID(before))
	// Output:
	// hello stranger, your cart: [book]
	// hello ada, your cart: [book]
	// new session id after login: true
}

// Logout: Destroy deletes the session in MongoDB and clears the cookie. A copy of the cookie is worth nothing
// afterwards, and a request of the same session still running cannot bring it back.
func ExampleSession_Destroy() {
	sessions, cleanup := exampleManager("logout", mongosession.Options{})
	defer cleanup()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		s.SetUser("ada")
		_ = s.Renew()
		fmt.Fprint(w, "logged in")
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		user, err := mongosession.FromContext(r.Context()).User()
		if err != nil {
			return
		}
		fmt.Fprintf(w, "user %q", user)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := mongosession.FromContext(r.Context()).Destroy(); err != nil {
			return // the database failed: the middleware answers 503
		}
		fmt.Fprint(w, "logged out")
	})
	srv := httptest.NewTLSServer(sessions.Middleware(mux))
	defer srv.Close()

	browser := newBrowser(srv)
	fmt.Println(post(browser, srv.URL+"/login", nil))
	stolen := jarCookie(browser, srv)
	fmt.Println(get(browser, srv.URL+"/whoami"))
	fmt.Println(post(browser, srv.URL+"/logout", nil))
	fmt.Println(get(browser, srv.URL+"/whoami"))

	thief := newBrowser(srv)
	thief.Jar.SetCookies(mustURL(srv.URL), []*http.Cookie{stolen})
	fmt.Println("with a copy of the old cookie:", get(thief, srv.URL+"/whoami"))
	// Output:
	// logged in
	// user "ada"
	// logged out
	// user ""
	// with a copy of the old cookie: user ""
}

// Flash messages: put a message before a redirect, pop it on the page that follows; it shows once. Popping is
// part of the request's one commit, so it costs no database command of its own.
func ExampleSession_PopString() {
	sessions, cleanup := exampleManager("flash", mongosession.Options{})
	defer cleanup()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /settings", func(w http.ResponseWriter, r *http.Request) {
		// ... save the settings ...
		if err := mongosession.FromContext(r.Context()).Put("flash", "Settings saved."); err != nil {
			return
		}
		http.Redirect(w, r, "/settings", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /settings", func(w http.ResponseWriter, r *http.Request) {
		flash, err := mongosession.FromContext(r.Context()).PopString("flash")
		if err != nil {
			return
		}
		fmt.Fprintf(w, "[%s] your settings", flash)
	})
	srv := httptest.NewTLSServer(sessions.Middleware(mux))
	defer srv.Close()

	browser := newBrowser(srv)
	fmt.Println(post(browser, srv.URL+"/settings", nil)) // redirected to GET /settings
	fmt.Println(get(browser, srv.URL+"/settings"))       // reloaded
	// Output:
	// [Settings saved.] your settings
	// [] your settings
}

// A page that lists the user's sessions ("where you're logged in") and a button that logs out the other
// devices. Sessions are linked to a user by Session.SetUser; RecordClientInfo keeps the address and
// User-Agent of each, to show.
func ExampleManager_RevokeUser() {
	sessions, cleanup := exampleManager("devices", mongosession.Options{RecordClientInfo: true})
	defer cleanup()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		s.SetUser("ada")
		_ = s.Renew()
	})
	mux.HandleFunc("GET /devices", func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		user, err := s.User()
		if err != nil || user == "" {
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		list, err := sessions.Sessions(r.Context(), user)
		if err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		var devices []string
		for _, info := range list {
			device := info.UserAgent
			if info.ID == s.ID() {
				device += " (this one)"
			}
			devices = append(devices, device)
		}
		slices.Sort(devices)
		fmt.Fprint(w, strings.Join(devices, ", "))
	})
	mux.HandleFunc("POST /logout-others", func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		user, err := s.User()
		if err != nil || user == "" {
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		n, err := sessions.RevokeUser(r.Context(), user, s.ID()) // all but this one
		if err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "logged out %d other device(s)", n)
	})
	srv := httptest.NewTLSServer(sessions.Middleware(mux))
	defer srv.Close()

	laptop, phone := newBrowser(srv, "laptop"), newBrowser(srv, "phone")
	post(laptop, srv.URL+"/login", nil)
	post(phone, srv.URL+"/login", nil)
	fmt.Println(get(laptop, srv.URL+"/devices"))
	fmt.Println(post(laptop, srv.URL+"/logout-others", nil))
	fmt.Println(get(laptop, srv.URL+"/devices"))
	fmt.Println(get(phone, srv.URL+"/devices"))
	// Output:
	// laptop (this one), phone
	// logged out 1 other device(s)
	// laptop (this one)
	// log in first
}

// exampleManager returns a Manager on an empty collection of the test database, set up as in Example (the
// collection is emptied first, so the example's output does not depend on earlier runs), and the function
// that releases it.
func exampleManager(name string, opts mongosession.Options) (*mongosession.Manager, func()) {
	ctx := context.Background()
	client, err := mongo.Connect(mongosession.ClientOptions(mongosession.TestURI))
	if err != nil {
		log.Fatal(err)
	}
	coll := client.Database("mongosession_examples").Collection(name)
	if err := coll.Drop(ctx); err != nil {
		log.Fatal(err)
	}
	store, err := mongosession.NewMongoStore(ctx, coll, mongosession.StoreOptions{})
	if err != nil {
		log.Fatal(err)
	}
	m, err := mongosession.New(store, opts)
	if err != nil {
		log.Fatal(err)
	}
	return m, func() {
		_ = store.Close()
		_ = client.Disconnect(ctx)
	}
}

// newBrowser returns a client of srv that keeps cookies, as a browser does, and sends userAgent if given.
func newBrowser(srv *httptest.Server, userAgent ...string) *http.Client {
	c := *srv.Client() // a copy: srv.Client() returns the same client each time
	c.Jar, _ = cookiejar.New(nil)
	if len(userAgent) > 0 {
		c.Transport = userAgentTransport{next: c.Transport, ua: userAgent[0]}
	}
	return &c
}

type userAgentTransport struct {
	next http.RoundTripper
	ua   string
}

func (t userAgentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", t.ua)
	return t.next.RoundTrip(r)
}

func get(c *http.Client, url string) string { return body(c.Get(url)) }

func post(c *http.Client, url string, form url.Values) string { return body(c.PostForm(url, form)) }

func body(resp *http.Response, err error) string {
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// jarCookie returns the session cookie c holds for srv.
func jarCookie(c *http.Client, srv *httptest.Server) *http.Cookie {
	for _, ck := range c.Jar.Cookies(mustURL(srv.URL)) {
		if strings.HasSuffix(ck.Name, "session") {
			return ck
		}
	}
	return nil
}

// sessionID returns the session id part of a database session's cookie ("<id>.<token>").
func sessionID(c *http.Cookie) string {
	id, _, _ := strings.Cut(c.Value, ".")
	return id
}
