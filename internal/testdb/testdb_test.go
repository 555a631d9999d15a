package testdb

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestStartPing(t *testing.T) {
	uri, stop, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	// A second user shares the same server.
	uri2, stop2, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	stop2()
	if uri2 != uri {
		t.Errorf("second Start: %q, want shared %q", uri2, uri)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	if err := client.Ping(ctx, nil); err != nil {
		t.Fatalf("ping %s: %v", uri, err)
	}
	coll := client.Database("testdb").Collection("t")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Fatalf("count = %d, %v", n, err)
	}
}

// TestSourceKey: the cached devdb binary is rebuilt when a source that goes into it changes, and only then.
func TestSourceKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	key := func() string {
		t.Helper()
		k, err := sourceKey(dir)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write("go.mod", "module example.com/devdb\n")
	write("devdb.go", "package devdb\n")
	write("cmd/devdb/main.go", "package main\n")
	base := key()
	if again := key(); again != base {
		t.Fatalf("key changed without a change: %s, then %s", base, again)
	}

	write("devdb_test.go", "package devdb\n")
	write("testdata/x.go", "package x\n")
	write("devdb-data/notes.txt", "data")
	if k := key(); k != base {
		t.Errorf("a test file, testdata or data changed the key")
	}

	write("cmd/devdb/main.go", "package main // changed\n")
	if k := key(); k == base {
		t.Errorf("a changed source kept the key")
	}
}

func TestDevdbBinaryFromEnv(t *testing.T) {
	t.Setenv(EnvDevdbBin, filepath.Join(t.TempDir(), "missing"))
	if _, err := devdbBinary(t.TempDir()); err == nil || !strings.Contains(err.Error(), EnvDevdbBin) {
		t.Fatalf("a missing $%s: err = %v, want one naming the variable", EnvDevdbBin, err)
	}
}
