// Command app is the application server of the reliability suite: a small net/http app that uses
// mongosession the way a real one does. The suite starts several of them behind no load balancer of its own
// (each browser request goes to any of them) and talks to the database through its fault proxy.
//
// The first line of stdout is the base URL ("http://127.0.0.1:port"); the app stops when stdin reaches EOF.
// Logs (the library's and the app's) are JSON lines on stderr; security events are logged with
// msg "security event" and their kind, which is how the suite counts them.
//
// Every route answers 200 with a JSON body (see reply) unless the session layer failed: the app itself never
// sends a non-2xx status except 500 for an error it did not expect, so any other non-2xx response comes from
// the library's error hook, and a Set-Cookie on a non-2xx response is the library's.
//
//	GET  /read               the user and the counter "n" (Get)
//	POST /incr?k=n&hold=ms   Incr(k, 1), then waits hold before answering (so the commit happens later)
//	POST /put?k=&v=[&int=1]  Put(k, v) (v as an integer with int=1); needs no read
//	POST /login?user=        SetUser + Renew
//	POST /logout             Destroy
//	GET  /ws                 reads the session, Incr("n"), then hijacks the connection and writes its own 101 and
//	                         one text frame, as gorilla/websocket's Upgrade does (the handler's headers never leave)
//	GET  /slow?delay=ms      waits, then reads the session (a long poll, a slow upload)
//	GET  /debug/goroutines   runtime.NumGoroutine(), outside the session middleware
//	GET  /debug/info         {"clock": whether the skewed clock is in force}
package main

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/mongosession/mongosession"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func main() {
	uri := flag.String("uri", "", "MongoDB `URI` (the fault proxy)")
	addr := flag.String("addr", "127.0.0.1:0", "listen `address`")
	db := flag.String("db", "reliability", "database `name`")
	coll := flag.String("coll", "sessions", "collection `name`")
	name := flag.String("name", "app", "`name` of this process in its log lines")
	tokenTTL := flag.Duration("token-ttl", 0, "Options.TokenTTL (0: the library's default)")
	timeout := flag.Duration("timeout", 0, "Options.Timeout (0: the library's default)")
	skew := flag.Duration("clock-skew", 0, "offset of this process's clock (needs Options.Clock)")
	purge := flag.Duration("purge-interval", 2*time.Second, "background purge interval (servers without TTL indexes)")
	flag.Parse()

	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("app", *name)
	if err := run(log, *uri, *addr, *db, *coll, *tokenTTL, *timeout, *skew, *purge); err != nil {
		log.Error("app failed", "err", err)
		os.Exit(1)
	}
}

// setClock installs the process's (skewed) clock as the library's clock seam.
func setClock(opts *mongosession.Options, now func() time.Time) bool {
	opts.Clock = now
	return true
}

// clientOptions are the recommended driver options: short connect and server-selection timeouts, so that the
// app answers 503 quickly during an outage and recovers within about 2 s after it.
func clientOptions(uri string) *options.ClientOptions { return mongosession.ClientOptions(uri) }

// newStore opens the session store with a short purge interval, so that purges run during the scenarios (a
// purge that deleted live sessions would show as spurious logouts).
func newStore(ctx context.Context, coll *mongo.Collection, purge time.Duration, now func() time.Time) (*mongosession.MongoStore, error) {
	return mongosession.NewMongoStore(ctx, coll, mongosession.StoreOptions{PurgeInterval: purge, Clock: now})
}

func run(log *slog.Logger, uri, addr, dbName, collName string, tokenTTL, timeout, skew, purge time.Duration) error {
	if uri == "" {
		return errors.New("-uri is required")
	}
	ctx := context.Background()
	client, err := mongo.Connect(clientOptions(uri))
	if err != nil {
		return err
	}
	defer client.Disconnect(context.Background())

	now := func() time.Time { return time.Now().Add(skew) }
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	store, err := newStore(startCtx, client.Database(dbName).Collection(collName), purge, now)
	cancel()
	if err != nil {
		return err
	}
	defer store.Close()

	opts := mongosession.Options{
		TokenTTL:       tokenTTL,
		Timeout:        timeout,
		InsecureCookie: true, // plain http on loopback
		Logger:         log,
		OnSecurityEvent: func(e mongosession.SecurityEvent) {
			log.Warn("security event", "kind", string(e.Kind), "session", e.Session)
		},
	}
	clock := setClock(&opts, now)
	mgr, err := mongosession.New(store, opts)
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("/", mgr.Middleware(routes(log)))
	mux.HandleFunc("GET /debug/goroutines", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, runtime.NumGoroutine())
	})
	mux.HandleFunc("GET /debug/info", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"clock": clock, "skew": skew.String()})
	})

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("http://%s\n", ln.Addr())

	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case err := <-served:
		return err
	case <-stdinClosed:
	}
	shutdown, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// reply is the body of every session route.
type reply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"` // an application-level refusal (a type conflict), still a 200
	User  string `json:"user"`
	N     int64  `json:"n"`   // the counter this request sees ("n", or the key of /incr)
	SID   string `json:"sid"` // SessionHash of the session id ("" without a session)
}

func routes(log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	// fail answers an error the app did not expect with 500. An error from a failed load or commit never
	// reaches the client as this 500: the middleware has already replaced the response with its error hook's
	// (which logs it), hence a warning here, not a second error line.
	fail := func(w http.ResponseWriter, r *http.Request, err error) {
		log.Warn("handler error", "path", r.URL.Path, "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
	// answer reads the user and the counter this request sees and writes the reply.
	answer := func(w http.ResponseWriter, r *http.Request, rep reply) {
		s := mongosession.FromContext(r.Context())
		user, err := s.User()
		if err != nil {
			fail(w, r, err)
			return
		}
		if rep.N == 0 && rep.Error == "" {
			if rep.N, err = s.GetInt64("n"); err != nil {
				fail(w, r, err)
				return
			}
		}
		rep.OK, rep.User = rep.Error == "", user
		if id := s.ID(); id != "" {
			rep.SID = mongosession.SessionHash(id)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rep)
	}

	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) { answer(w, r, reply{}) })
	mux.HandleFunc("POST /incr", func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		key := r.URL.Query().Get("k")
		if key == "" {
			key = "n"
		}
		n, err := s.Incr(key, 1)
		var rep reply
		switch {
		case errors.Is(err, mongosession.ErrType):
			rep.Error = "type" // another tab stored a string there
		case err != nil:
			fail(w, r, err)
			return
		default:
			rep.N = n
		}
		if !hold(r) {
			return
		}
		answer(w, r, rep)
	})
	mux.HandleFunc("POST /put", func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		q := r.URL.Query()
		var v any = q.Get("v")
		if q.Get("int") == "1" {
			n, err := strconv.ParseInt(q.Get("v"), 10, 64)
			if err != nil {
				http.Error(w, "bad v", http.StatusBadRequest)
				return
			}
			v = n
		}
		if err := s.Put(q.Get("k"), v); err != nil {
			fail(w, r, err)
			return
		}
		// No read: a write-only request. The reply carries no user (reading it would make this a read).
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]bool{"ok": true})
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		s.SetUser(r.URL.Query().Get("user"))
		if err := s.Renew(); err != nil {
			fail(w, r, err)
			return
		}
		answer(w, r, reply{})
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := mongosession.FromContext(r.Context()).Destroy(); err != nil {
			fail(w, r, err)
			return
		}
		answer(w, r, reply{})
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		delay, _ := strconv.Atoi(r.URL.Query().Get("delay"))
		select {
		case <-time.After(time.Duration(delay) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		answer(w, r, reply{})
	})
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) { websocket(w, r, fail) })
	return mux
}

// hold waits for the hold query parameter (milliseconds) before the handler answers, so that the commit
// happens that much later. It reports false if the client went away.
func hold(r *http.Request) bool {
	ms, _ := strconv.Atoi(r.URL.Query().Get("hold"))
	if ms <= 0 {
		return true
	}
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		return true
	case <-r.Context().Done():
		return false
	}
}

// websocketGUID is the fixed GUID of RFC 6455's handshake.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// websocket does what a WebSocket endpoint built on gorilla/websocket does: it uses the session before the
// upgrade, then hijacks the connection and writes its own 101 response (the handler's header map, where the
// session middleware put any Set-Cookie, is never sent). It then sends one text frame with the reply and
// closes.
func websocket(w http.ResponseWriter, r *http.Request, fail func(http.ResponseWriter, *http.Request, error)) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if r.Header.Get("Upgrade") != "websocket" || key == "" {
		http.Error(w, "not a websocket handshake", http.StatusBadRequest)
		return
	}
	s := mongosession.FromContext(r.Context())
	user, err := s.User()
	if err != nil {
		fail(w, r, err)
		return
	}
	n, err := s.Incr("n", 1)
	if err != nil {
		fail(w, r, err)
		return
	}
	rep := reply{OK: true, User: user, N: n}
	if id := s.ID(); id != "" {
		rep.SID = mongosession.SessionHash(id)
	}
	conn, brw, err := http.NewResponseController(w).Hijack() // the session commits here
	if err != nil {
		// The commit failed: the middleware's error hook has answered instead.
		return
	}
	defer conn.Close()
	sum := sha1.Sum([]byte(key + websocketGUID))
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		base64.StdEncoding.EncodeToString(sum[:]))
	payload, _ := json.Marshal(rep)
	frame := []byte{0x81} // FIN, text
	if len(payload) < 126 {
		frame = append(frame, byte(len(payload)))
	} else {
		frame = append(frame, 126, byte(len(payload)>>8), byte(len(payload)))
	}
	frame = append(frame, payload...)
	frame = append(frame, 0x88, 0) // close
	_, _ = brw.Write(frame)
	_ = brw.Flush()
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, conn) // wait for the client's close, as a WebSocket peer does
}
