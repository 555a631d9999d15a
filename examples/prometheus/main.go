// Command prometheus shows mongosession's Options.Metrics feeding Prometheus: a visit counter on / and the
// metrics on /metrics.
//
//	go run . -uri mongodb://127.0.0.1:27017
//	curl -c jar -b jar http://127.0.0.1:8080/ ; curl http://127.0.0.1:8080/metrics | grep mongosession
//
// The library itself does not depend on Prometheus: this module does.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen `address`")
	uri := flag.String("uri", "mongodb://127.0.0.1:27017", "MongoDB `URI`")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	client, err := mongo.Connect(mongosession.ClientOptions(*uri))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	store, err := mongosession.NewMongoStore(ctx, client.Database("app").Collection("sessions"), mongosession.StoreOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	mgr, err := mongosession.New(store, mongosession.Options{
		InsecureCookie: true, // plain http on loopback, for trying it out
		Metrics:        sessionMetrics(reg),
	})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		n, err := mongosession.FromContext(r.Context()).Incr("visits", 1)
		if err != nil {
			return // the middleware answers 503 (and counts an outage)
		}
		fmt.Fprintf(w, "visit %d\n", n)
	})
	// The metrics endpoint has no session: it goes around the middleware.
	root := http.NewServeMux()
	root.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	root.Handle("/", mgr.Middleware(mux))

	srv := &http.Server{Addr: *addr, Handler: root, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("listening on http://%s (metrics on /metrics)", *addr)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
