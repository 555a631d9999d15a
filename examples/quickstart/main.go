// Command quickstart is a complete web application with mongosession: a visit counter, login and logout.
//
// Start a database first (from the repository: make devdb), then, for plain http on http://127.0.0.1:8080:
//
//	go run . -insecure-cookie
//
// MONGODB_URI selects the database (default mongodb://127.0.0.1:27017).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mongosession/mongosession"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	// The session cookie is Secure by default: browsers accept it only over https, and on a loopback address
	// such as localhost. Over plain http from a LAN address (http://192.168.1.10:8080) Chromium drops it
	// silently, so every request starts a new session. Turn this on for plain-http development, never in
	// production.
	insecureCookie := flag.Bool("insecure-cookie", false, "send the session cookie over plain http (development only)")
	flag.Parse()
	uri := os.Getenv("MONGODB_URI")
	if uri == "" {
		uri = "mongodb://127.0.0.1:27017"
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// ClientOptions: short timeouts, so that while the database is down requests fail fast (503), and they
	// recover within about 2 s of its return (the driver's defaults wait 30 s).
	client, err := mongo.Connect(mongosession.ClientOptions(uri))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = client.Disconnect(context.Background()) }()

	store, err := mongosession.NewMongoStore(ctx, client.Database("quickstart").Collection("sessions"), mongosession.StoreOptions{})
	if err != nil {
		log.Fatalf("%v (is the database running? make devdb starts one)", err)
	}
	defer func() { _ = store.Close() }() // stops the background purge, if the server has no TTL indexes

	mgr, err := mongosession.New(store, mongosession.Options{InsecureCookie: *insecureCookie})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		visits, err := s.Incr("visits", 1)
		if err != nil {
			http.Error(w, "session unavailable", http.StatusServiceUnavailable)
			return
		}
		user, err := s.User()
		if err != nil {
			http.Error(w, "session unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, `<!doctype html>
<p>Visits: %d. User: %q.</p>
<form method="post" action="/login"><input name="user" placeholder="name"> <button>Log in</button></form>
<form method="post" action="/logout"><button>Log out</button></form>
`, visits, html.EscapeString(user))
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		user := r.PostFormValue("user")
		if user == "" {
			http.Error(w, "a user name is required", http.StatusBadRequest)
			return
		}
		// A real application checks a password here.
		s := mongosession.FromContext(r.Context())
		s.SetUser(user)
		// A new session id and token at login: an id planted or seen before the login is worthless now.
		if err := s.Renew(); err != nil {
			http.Error(w, "session unavailable", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := mongosession.FromContext(r.Context()).Destroy(); err != nil {
			http.Error(w, "session unavailable", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})

	srv := &http.Server{
		// CrossOriginProtection rejects cross-site form posts (CSRF) to /login and /logout.
		Handler:           http.NewCrossOriginProtection().Handler(mgr.Middleware(mux)),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on http://%s", ln.Addr())
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()

	<-ctx.Done()
	stop() // a second Ctrl-C ends the program at once
	log.Print("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil { // waits for the requests in flight
		log.Print(err)
	}
}
