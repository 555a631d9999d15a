package mongosession_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/mongosession/mongosession"
)

// A long-lived connection (a WebSocket after the upgrade, a stream of server-sent events) or a background
// job has no response to commit the session on. Load reads the session of a request; keep its ID to load it
// again later with LoadID (the request's token rotates away while the user browses), change it, and Commit.
// No cookie can be sent from there: the token never rotates, and what only a new cookie could carry (Renew,
// Destroy, a new session) is refused.
func ExampleManager_LoadID() {
	sessions, cleanup := exampleManager("load", mongosession.Options{})
	defer cleanup()

	jobs := make(chan string, 1) // session ids of the exports to run
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		s.SetUser("ada")
		_ = s.Renew()
		fmt.Fprint(w, "logged in")
	})
	mux.HandleFunc("POST /export", func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		id := s.ID() // "" without a session (the id of a new one exists only once this request commits)
		if id == "" {
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		if err := s.Put("export", "running"); err != nil {
			return
		}
		jobs <- id
		fmt.Fprint(w, "export started")
	})
	mux.HandleFunc("GET /export", func(w http.ResponseWriter, r *http.Request) {
		status, err := mongosession.FromContext(r.Context()).GetString("export")
		if err != nil {
			return
		}
		fmt.Fprintf(w, "export %s", status)
	})
	srv := httptest.NewTLSServer(sessions.Middleware(mux))
	defer srv.Close()

	browser := newBrowser(srv)
	fmt.Println(post(browser, srv.URL+"/login", nil))
	fmt.Println(post(browser, srv.URL+"/export", nil))

	// The background job, later.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := sessions.LoadID(ctx, <-jobs)
	if err != nil {
		log.Fatal(err) // the database failed
	}
	if s.Mode() == mongosession.ModeNone {
		return // the user logged out meanwhile
	}
	// ... run the export ...
	if err := s.Put("export", "done"); err != nil {
		log.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		log.Fatal(err) // the database failed, or the session was renewed or ended meanwhile
	}
	fmt.Println(get(browser, srv.URL+"/export"))
	// Output:
	// logged in
	// export started
	// export done
}
