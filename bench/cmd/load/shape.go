package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongosession/mongosession/bench"
)

// checkDocShape fails when bench.NewDoc no longer writes the top-level fields of the session document that
// mongosession writes. The raw contenders and the growth phase's bulk load use NewDoc to stand for the
// library's documents; drifted, they would be measured against, or fill the collection with, documents of
// another shape and size. It runs before any measurement, on a collection of its own.
func checkDocShape(ctx context.Context, db *mongo.Database) error {
	coll := db.Collection("doc_shape")
	_ = coll.Drop(ctx)
	defer func() { _ = coll.Drop(ctx) }()
	h, closeH, err := builders()["mongosession"](ctx, coll)
	if err != nil {
		return err
	}
	defer closeH()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, bench.SeedPath, nil))
	cookies := rec.Result().Cookies()
	if rec.Code != http.StatusOK || len(cookies) != 1 {
		return fmt.Errorf("doc shape: seed: status %d, %d cookies", rec.Code, len(cookies))
	}
	id, _, _ := strings.Cut(cookies[0].Value, ".")
	var written bson.Raw
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&written); err != nil {
		return fmt.Errorf("doc shape: read the seeded session: %w", err)
	}
	standIn, err := bson.Marshal(bench.NewDoc(id, make([]byte, 32), time.Now()))
	if err != nil {
		return err
	}
	if lib, ours := fieldNames(written), fieldNames(standIn); !slices.Equal(lib, ours) {
		return fmt.Errorf("bench.NewDoc writes the fields %v, mongosession writes %v: update bench/raw.go", ours, lib)
	}
	return nil
}

// fieldNames returns the sorted top-level field names of doc, but for fields that hold an empty document,
// which hold nothing a stand-in must have.
func fieldNames(doc bson.Raw) []string {
	elems, _ := doc.Elements()
	names := make([]string, 0, len(elems))
	for _, e := range elems {
		if sub, ok := e.Value().DocumentOK(); ok && len(sub) <= 5 { // 5 bytes: an empty BSON document
			continue
		}
		names = append(names, e.Key())
	}
	slices.Sort(names)
	return names
}
