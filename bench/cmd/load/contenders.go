package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/bench"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// contender is one HTTP server with its own driver client, whose commands are counted.
type contender struct {
	name    string
	client  *mongo.Client
	db      *mongo.Database
	cmds    atomic.Int64
	byName  sync.Map // command name → *atomic.Int64
	handler atomic.Pointer[http.Handler]
	url     string
	srv     *http.Server
	tr      *http.Transport
	// build makes the contender's handler over a fresh collection; close releases it.
	build func(ctx context.Context, coll *mongo.Collection) (h http.Handler, close func(), err error)
}

// ignored are the handshake and monitoring commands that do not count as session work.
var ignored = map[string]bool{"hello": true, "isMaster": true, "ismaster": true, "ping": true, "saslStart": true,
	"saslContinue": true, "endSessions": true, "buildInfo": true, "getLastError": true}

func newContender(ctx context.Context, uri, name string, clients int) (*contender, error) {
	c := &contender{name: name}
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if ignored[e.CommandName] {
			return
		}
		c.cmds.Add(1)
		v, _ := c.byName.LoadOrStore(e.CommandName, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}}
	client, err := mongo.Connect(mongosession.ClientOptions(uri).SetMonitor(mon))
	if err != nil {
		return nil, err
	}
	if err := client.Ping(ctx, nil); err != nil {
		return nil, err
	}
	c.client, c.db = client, client.Database("bench")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c.url = "http://" + ln.Addr().String()
	c.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*c.handler.Load()).ServeHTTP(w, r)
	}), ReadHeaderTimeout: time.Minute}
	go func() { _ = c.srv.Serve(ln) }()
	c.tr = &http.Transport{MaxIdleConns: 4 * clients, MaxIdleConnsPerHost: 2 * clients, DisableCompression: true}
	return c, nil
}

func (c *contender) close() {
	_ = c.srv.Close()
	c.tr.CloseIdleConnections()
	_ = c.client.Disconnect(context.Background())
}

// commandNames returns "find 1.00, update 1.00" style counts per request since before.
func (c *contender) snapshot() map[string]int64 {
	m := map[string]int64{}
	c.byName.Range(func(k, v any) bool {
		m[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return m
}

var quietLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

func builders() map[string]func(ctx context.Context, coll *mongo.Collection) (http.Handler, func(), error) {
	return map[string]func(ctx context.Context, coll *mongo.Collection) (http.Handler, func(), error){
		"bare": func(context.Context, *mongo.Collection) (http.Handler, func(), error) {
			return bench.Bare(), func() {}, nil
		},
		"mongosession": func(ctx context.Context, coll *mongo.Collection) (http.Handler, func(), error) {
			st, err := mongosession.NewMongoStore(ctx, coll, mongosession.StoreOptions{})
			if err != nil {
				return nil, nil, err
			}
			m, err := mongosession.New(st, mongosession.Options{InsecureCookie: true, Logger: quietLog})
			if err != nil {
				return nil, nil, err
			}
			return bench.Mongosession(m), func() { _ = st.Close() }, nil
		},
		"scs": func(ctx context.Context, coll *mongo.Collection) (http.Handler, func(), error) {
			st, err := bench.NewSCSMongoStore(ctx, coll)
			if err != nil {
				return nil, nil, err
			}
			sm := scs.New()
			sm.Store = st
			sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
			return bench.SCS(sm), func() {}, nil
		},
		"raw-same": func(ctx context.Context, coll *mongo.Collection) (http.Handler, func(), error) {
			return bench.Raw(coll, bench.FilterSame), func() {}, expiresIndex(ctx, coll)
		},
		"raw-id": func(ctx context.Context, coll *mongo.Collection) (http.Handler, func(), error) {
			return bench.Raw(coll, bench.FilterID), func() {}, expiresIndex(ctx, coll)
		},
		"raw-min": func(ctx context.Context, coll *mongo.Collection) (http.Handler, func(), error) {
			return bench.RawMin(coll), func() {}, expiresIndex(ctx, coll)
		},
	}
}

// expiresIndex gives a raw contender's collection the index mongosession's store creates (where the server
// has no TTL index, FerretDB 1.x among them), so that both maintain the same indexes on every write.
func expiresIndex(ctx context.Context, coll *mongo.Collection) error {
	_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "expires", Value: 1}},
		Options: options.Index().SetName("expires")})
	return err
}

// contenderNames in report order.
var contenderNames = []string{"mongosession", "scs", "raw-same", "raw-id", "raw-min", "bare"}
