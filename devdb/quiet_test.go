package devdb

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestExpectedCommandErrorsAreQuiet runs the two failures every mongosession application causes on FerretDB
// (a TTL index, which it does not implement, and the driver's endSessions at disconnect) and checks that
// nothing reaches the log at WARN, the level the devdb command shows; with LogCommandErrors (devdb -v) both
// are there, which shows the test does provoke them.
func TestExpectedCommandErrorsAreQuiet(t *testing.T) {
	for _, logCommandErrors := range []bool{false, true} {
		var out lockedBuffer
		logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn}))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		srv, err := Start(ctx, Config{Dir: t.TempDir(), Logger: logger, LogCommandErrors: logCommandErrors})
		if err != nil {
			t.Fatal(err)
		}
		client, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
		if err != nil {
			t.Fatal(err)
		}
		coll := client.Database("quiet").Collection("sessions")
		_, err = coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "expires", Value: 1}},
			Options: options.Index().SetExpireAfterSeconds(0)})
		var cmdErr mongo.CommandError
		if !errors.As(err, &cmdErr) || cmdErr.Code != 238 {
			t.Fatalf("creating a TTL index: %v, want NotImplemented (238)", err)
		}
		if err := client.Disconnect(ctx); err != nil { // sends endSessions for the session the command used
			t.Fatal(err)
		}
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
		cancel()

		logged := out.String()
		if !logCommandErrors {
			if logged != "" {
				t.Errorf("expected command failures logged %d lines at WARN or above:\n%s",
					strings.Count(logged, "\n"), logged)
			}
			continue
		}
		for _, want := range []string{"expireAfterSeconds", "endSessions"} {
			if !strings.Contains(logged, want) {
				t.Errorf("with LogCommandErrors, the log does not mention %s:\n%s", want, logged)
			}
		}
	}
}

// TestCommandErrorFilterKeepsRealErrors: only FerretDB's reply dumps below ERROR are dropped.
func TestCommandErrorFilterKeepsRealErrors(t *testing.T) {
	var out lockedBuffer
	h := withoutCommandErrors{slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn})}
	log := slog.New(h.WithAttrs([]slog.Attr{slog.String("name", "// conn")}))
	log.Warn("Response header: length: 146, opcode: OP_MSG")
	log.Warn("Response message:\n{ok: 0.0}\n")
	log.Error("Response header: length: 99, opcode: OP_MSG") // FerretDB closes the connection after it
	log.Warn("sqlite: database is locked")
	logged := out.String()
	for _, want := range []string{"length: 99", "database is locked"} {
		if !strings.Contains(logged, want) {
			t.Errorf("the log lost %q:\n%s", want, logged)
		}
	}
	if strings.Contains(logged, "length: 146") || strings.Contains(logged, "ok: 0.0") {
		t.Errorf("the log kept a WARN reply dump:\n%s", logged)
	}
}

// lockedBuffer is a bytes.Buffer safe for the concurrent writes of a server's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
