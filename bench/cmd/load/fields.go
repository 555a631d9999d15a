package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"time"

	_ "modernc.org/sqlite" // FerretDB's SQLite driver, to read the stored size of the documents

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongosession/mongosession/bench"
)

// fieldCell is one measurement of the field phase: one document shape, one operation, one round.
// Its fields are the JSON that -raw writes and -replay reads: renaming one orphans saved results.
type fieldCell struct {
	Backend, Shape, Op string
	Fields, Bytes      int // top-level fields and BSON size of one document
	Stored             int // mean size of the stored JSON (FerretDB's SJSON) on SQLite; 0 elsewhere
	Round              int
	Ops                int64
	Seconds            float64
	P50                time.Duration
}

func (c fieldCell) mean() time.Duration {
	if c.Ops == 0 {
		return 0
	}
	return time.Duration(c.Seconds / float64(c.Ops) * 1e9)
}

// fieldDocs is how many documents each shape's collection holds.
const fieldDocs = 64

// docShape is one document shape of the field phase.
type docShape struct {
	name string
	step bool // a step of the ladder (adds fields to the shape above it)
	doc  func(id string, now time.Time) bson.D
}

// docShapes returns the ladder from the smallest session document to mongosession's largest (each step adds
// fields to the one before; the last step is the whole document with a user and client info), then the
// document mongosession writes for a new session (what the HTTP load reads) and three leaner variants of it.
// Field order is mongosession's.
func docShapes() []docShape {
	level := func(n int) func(id string, now time.Time) bson.D {
		return func(id string, now time.Time) bson.D {
			now = now.Truncate(time.Millisecond)
			d := bson.D{{Key: "_id", Value: id}}
			if n >= 1 {
				d = append(d, bson.E{Key: "tokens", Value: bson.A{bson.D{{Key: "h", Value: hash()}, {Key: "at", Value: now}}}})
			}
			if n >= 2 {
				d = append(d, bson.E{Key: "newest", Value: hash()})
			}
			if n >= 3 {
				// As mongosession stores them: one binary of 40-byte records (hash, retirement time).
				var retired []byte
				for i := range 9 {
					retired = binary.BigEndian.AppendUint64(append(retired, hash()...), uint64(now.Add(time.Duration(i-9)*time.Minute).UnixMilli()))
				}
				d = append(d, bson.E{Key: "retired", Value: bson.Binary{Data: retired}})
			}
			d = append(d, bson.E{Key: "data", Value: bson.D{{Key: "user", Value: "alice"}}})
			if n >= 5 {
				d = append(d, bson.E{Key: "user", Value: "alice@example.com"},
					bson.E{Key: "client", Value: bson.D{{Key: "ip", Value: "203.0.113.7"},
						{Key: "ua", Value: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"},
						{Key: "seen", Value: now}}})
			}
			if n >= 4 {
				d = append(d, bson.E{Key: "created", Value: now}, bson.E{Key: "absolute", Value: now.Add(24 * time.Hour)})
			}
			return append(d, bson.E{Key: "expires", Value: now.Add(2 * time.Hour)})
		}
	}
	return []docShape{
		{"{_id, data, expires}", true, level(0)},
		{"+ tokens (1 hash)", true, level(1)},
		{"+ newest", true, level(2)},
		{"+ retired (9 hashes, packed binary)", true, level(3)},
		{"+ created, absolute", true, level(4)},
		{"+ user, client (the whole document)", true, level(5)},
		{"a new session as mongosession writes it (no retired yet; the HTTP load's document)", false, func(id string, now time.Time) bson.D {
			return bench.NewDoc(id, hash(), now)
		}},
		// Leaner documents a new session could have, for comparison (not written by mongosession today).
		{"the same without newest", false, func(id string, now time.Time) bson.D {
			d := bench.NewDoc(id, hash(), now)
			return slices.DeleteFunc(d, func(e bson.E) bool { return e.Key == "newest" || e.Key == "retired" })
		}},
		{"the same with the token hashes and times packed in one binary field", false, func(id string, now time.Time) bson.D {
			d := bench.NewDoc(id, hash(), now)
			d = slices.DeleteFunc(d, func(e bson.E) bool { return e.Key == "newest" || e.Key == "retired" })
			for i, e := range d {
				if e.Key == "tokens" {
					packed := binary.BigEndian.AppendUint64(hash(), uint64(now.UnixMilli())) // 40 bytes a token
					d[i].Value = bson.Binary{Data: packed}
				}
			}
			return d
		}},
		{"the same with tokens as an array of hashes and their times in a parallel array", false, func(id string, now time.Time) bson.D {
			d := bench.NewDoc(id, hash(), now)
			d = slices.DeleteFunc(d, func(e bson.E) bool { return e.Key == "newest" || e.Key == "retired" })
			for i, e := range d {
				if e.Key == "tokens" {
					d[i].Value = bson.A{hash()}
					d = slices.Insert(d, i+1, bson.E{Key: "issued", Value: bson.A{now.Truncate(time.Millisecond)}})
					break
				}
			}
			return d
		}},
	}
}

func updateByID(ctx context.Context, coll *mongo.Collection, id string, update bson.D) error {
	res, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, update)
	if err == nil && res.MatchedCount != 1 {
		err = fmt.Errorf("update matched %d", res.MatchedCount)
	}
	return err
}

// storedSize returns the mean length of the JSON that FerretDB stores for each document of collection coll
// (what a scan of the table parses), read from its SQLite file.
func storedSize(ctx context.Context, file, coll string) (int, error) {
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: file, RawQuery: "mode=ro"}).String())
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var table string
	if err := db.QueryRowContext(ctx, `SELECT table_name FROM _ferretdb_collections WHERE name = ?`, coll).Scan(&table); err != nil {
		return 0, err
	}
	var n float64
	err = db.QueryRowContext(ctx, fmt.Sprintf(`SELECT avg(length(_ferretdb_sjson)) FROM %q`, table)).Scan(&n)
	return int(n), err
}

// sqliteFileOf returns FerretDB's SQLite file of database db in the folder dir.
func sqliteFileOf(dir, db string) string { return filepath.Join(dir, db+".sqlite") }

func hash() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

// fieldCosts measures, for every document shape, a FindOne and an UpdateOne ($inc of a data field) by _id alone
// on a collection of fieldDocs documents of that shape, one command at a time from one goroutine (the front
// serializes commands, so this is the server's cost per command plus a constant round trip). Rounds rotate the
// order of the shapes; the find decodes into bson.Raw, so the client's decoding stays out of the difference.
// sqliteFile, if not empty, is FerretDB's SQLite file of db, where the stored size of the documents is read.
func fieldCosts(ctx context.Context, cfg config, db *mongo.Database, backend, sqliteFile string, rep *report) error {
	shapes := docShapes()
	colls := make([]*mongo.Collection, len(shapes))
	ids := make([][]string, len(shapes))
	sizes, counts := make([]int, len(shapes)), make([]int, len(shapes))
	now := time.Now()
	for i, s := range shapes {
		colls[i] = db.Collection(fmt.Sprintf("fields_%d", i))
		_ = colls[i].Drop(ctx)
		defer func() { _ = colls[i].Drop(ctx) }()
		if err := expiresIndex(ctx, colls[i]); err != nil {
			return err
		}
		docs := make([]any, fieldDocs)
		for j := range docs {
			id := fmt.Sprintf("field%017d", j) // 22 characters, like a real id
			ids[i] = append(ids[i], id)
			d := s.doc(id, now)
			docs[j] = d
			if j == 0 {
				raw, err := bson.Marshal(d)
				if err != nil {
					return err
				}
				sizes[i] = len(raw)
				counts[i] = len(d)
			}
		}
		if _, err := colls[i].InsertMany(ctx, docs); err != nil {
			return err
		}
	}
	inc := bson.D{{Key: "$inc", Value: bson.D{{Key: "data.n", Value: int64(1)}}}}
	ops := []struct {
		name string
		do   func(coll *mongo.Collection, id string) error
	}{
		{"find", func(coll *mongo.Collection, id string) error {
			_, err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
			return err
		}},
		{"update", func(coll *mongo.Collection, id string) error {
			return updateByID(ctx, coll, id, inc)
		}},
		// mongosession's update after a read also moves the idle deadline: $set of expires with the $inc.
		{"update+expires", func(coll *mongo.Collection, id string) error {
			return updateByID(ctx, coll, id, bson.D{{Key: "$set", Value: bson.D{{Key: "expires", Value: time.Now().Add(2 * time.Hour)}}},
				inc[0]})
		}},
	}
	// Warm-up: every document once through each command (so that each holds data.n before anything is measured).
	for i := range shapes {
		for _, op := range ops {
			for _, id := range ids[i] {
				if err := op.do(colls[i], id); err != nil {
					return fmt.Errorf("%s %s: %w", shapes[i].name, op.name, err)
				}
			}
		}
	}
	stored := make([]int, len(shapes))
	if sqliteFile != "" {
		for i := range shapes {
			n, err := storedSize(ctx, sqliteFile, colls[i].Name())
			if err != nil {
				return fmt.Errorf("stored size: %w", err)
			}
			stored[i] = n
		}
	}
	for round := range cfg.rounds {
		order := make([]int, len(shapes))
		for i := range order {
			order[i] = (i + round) % len(shapes)
		}
		for _, i := range order {
			for _, op := range ops {
				var lat []time.Duration
				start := time.Now()
				for n := 0; time.Since(start) < cfg.fieldDuration || n < 3; n++ {
					t := time.Now()
					if err := op.do(colls[i], ids[i][n%fieldDocs]); err != nil {
						return fmt.Errorf("%s %s: %w", shapes[i].name, op.name, err)
					}
					lat = append(lat, time.Since(t))
				}
				elapsed := time.Since(start).Seconds()
				slices.Sort(lat)
				c := fieldCell{Backend: backend, Shape: shapes[i].name, Op: op.name, Fields: counts[i], Bytes: sizes[i],
					Stored: stored[i], Round: round, Ops: int64(len(lat)), Seconds: elapsed, P50: quantile(lat, 0.5)}
				logf("%s r%d fields %-14s %-40.40s %3d B mean %v p50 %v", backend, round, op.name, c.Shape, c.Bytes,
					c.mean(), c.P50)
				rep.fields = append(rep.fields, c)
			}
		}
	}
	return nil
}

// writeFields writes the field phase's table for backend: per shape, the median over the rounds of the mean
// time per command, and the difference to the shape above it.
func (r *report) writeFields(p func(string, ...any), backend string) {
	var shapes []string
	byShape := map[string][]fieldCell{}
	for _, c := range r.fields {
		if c.Backend != backend {
			continue
		}
		if _, ok := byShape[c.Shape]; !ok {
			shapes = append(shapes, c.Shape)
		}
		byShape[c.Shape] = append(byShape[c.Shape], c)
	}
	if len(shapes) == 0 {
		return
	}
	// Rounds rotate the order: list the shapes in ladder order, as docShapes has them.
	ladder := docShapes()
	slices.SortStableFunc(shapes, func(a, b string) int {
		return slices.IndexFunc(ladder, func(s docShape) bool { return s.name == a }) -
			slices.IndexFunc(ladder, func(s docShape) bool { return s.name == b })
	})
	medianOf := func(shape, op string) time.Duration {
		var ds []time.Duration
		for _, c := range byShape[shape] {
			if c.Op == op {
				ds = append(ds, c.P50)
			}
		}
		return medianDur(ds)
	}
	p("| document | top-level fields | BSON bytes | stored JSON bytes | find | Δ find | find ÷ first row | update | Δ update | update ÷ first row | update+expires |\n")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	var prevFind, prevUpdate time.Duration
	base := [2]time.Duration{medianOf(shapes[0], "find"), medianOf(shapes[0], "update")}
	for i, s := range shapes {
		f, u := medianOf(s, "find"), medianOf(s, "update")
		df, du := "", ""
		if k := slices.IndexFunc(ladder, func(d docShape) bool { return d.name == s }); i > 0 && k >= 0 && ladder[k].step {
			df, du = fmtDelta(f-prevFind), fmtDelta(u-prevUpdate)
		}
		c := byShape[s][0]
		st := "–"
		if c.Stored > 0 {
			st = fmt.Sprint(c.Stored)
		}
		ue := "–"
		if d := medianOf(s, "update+expires"); d > 0 {
			ue = fmtDur(d)
		}
		p("| %s | %d | %d | %s | %s | %s | %.2f× | %s | %s | %.2f× | %s |\n", s, c.Fields, c.Bytes, st, fmtDur(f), df,
			float64(f)/float64(base[0]), fmtDur(u), du, float64(u)/float64(base[1]), ue)
		prevFind, prevUpdate = f, u
	}
	p("\n")
}

func fmtDelta(d time.Duration) string {
	if d < 0 {
		return "−" + fmtDur(-d)
	}
	return "+" + fmtDur(d)
}
