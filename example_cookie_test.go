package mongosession_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/mongosession/mongosession"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// The hybrid setup: anonymous visitors live in an encrypted cookie and cost the database nothing; login
// (Renew) moves the session to MongoDB, data included.
func ExampleOptions_cookieMode() {
	ctx := context.Background()
	client, err := mongo.Connect(mongosession.ClientOptions(mongosession.TestURI)) // your MongoDB URI
	if err != nil {
		log.Fatal(err)
	}
	defer client.Disconnect(ctx)
	coll := client.Database("mongosession_examples").Collection("cookie_mode")
	_ = coll.Drop(ctx) // start from an empty collection: the example counts its documents
	store, err := mongosession.NewMongoStore(ctx, coll, mongosession.StoreOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	key := make([]byte, 32) // in production: 32 random bytes kept secret, the same on every server
	_, _ = rand.Read(key)
	sessions, err := mongosession.New(store, mongosession.Options{
		CookieKeys:    [][]byte{key}, // to rotate: {newKey, oldKey}
		StartInCookie: true,
	})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		mode := s.Mode() // where the session came from
		n, err := s.Incr("visits", 1)
		if err != nil {
			return
		}
		fmt.Fprintf(w, "visit %d, session in: %s", n, mode)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		s.SetUser("ada")
		if err := s.Renew(); err != nil { // a cookie-mode session moves to the database here (Promote would too)
			return
		}
		fmt.Fprintf(w, "logged in, session in: %s", s.Mode())
	})
	srv := httptest.NewTLSServer(sessions.Middleware(mux))
	defer srv.Close()

	browser := newBrowser(srv)
	stored := func() int64 { n, _ := coll.CountDocuments(ctx, bson.D{}); return n }
	fmt.Printf("%s (documents: %d)\n", get(browser, srv.URL+"/"), stored())
	fmt.Printf("%s (documents: %d)\n", get(browser, srv.URL+"/"), stored())
	fmt.Printf("%s (documents: %d)\n", post(browser, srv.URL+"/login", nil), stored())
	fmt.Printf("%s (documents: %d)\n", get(browser, srv.URL+"/"), stored())
	// Output:
	// visit 1, session in: none (documents: 0)
	// visit 2, session in: cookie (documents: 0)
	// logged in, session in: cookie (documents: 1)
	// visit 3, session in: database (documents: 1)
}
