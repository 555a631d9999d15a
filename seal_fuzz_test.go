package mongosession

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The fuzz targets use fixed keys and a fixed clock, so that the sealed cookies of the committed seed corpus
// (testdata/fuzz/FuzzOpen) stay valid: the fuzzer starts from cookies that open and mutates them.
var (
	fuzzCurrentKey = []byte("mongosession fuzz key, current!!")  // seals
	fuzzOldKey     = []byte("mongosession fuzz key, the older!") // opens only
	fuzzNow        = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
)

func fuzzManager(t testing.TB) *Manager {
	m, err := New(nopStore{}, Options{CookieKeys: [][]byte{fuzzCurrentKey, fuzzOldKey}, StartInCookie: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// nopStore is a Store that must never be called: opening cookies is no database work.
type nopStore struct{ Store }

// fuzzSeal seals data as a session created and issued a minute before fuzzNow, with key k (0 current, 1 old).
func fuzzSeal(t testing.TB, m *Manager, k int, user string, data bson.D) string {
	p := payload{Created: fuzzNow.Add(-time.Minute), Issued: fuzzNow.Add(-time.Minute), User: user,
		Data: map[string]bson.RawValue{}}
	for _, e := range data {
		typ, b, err := bson.MarshalValue(e.Value)
		if err != nil {
			t.Fatal(err)
		}
		p.Data[e.Key] = bson.RawValue{Type: typ, Value: b}
	}
	plain, err := encodePayload(p)
	if err != nil {
		t.Fatal(err)
	}
	s := &sealer{aeads: m.sealer.aeads[k:]}
	return s.seal(m.sealAD, plain)
}

// FuzzOpen feeds arbitrary cookie values to the decoder. It must never panic, must open only what was sealed
// with one of its keys for its cookie name, and what opens must survive a reseal unchanged.
func FuzzOpen(f *testing.F) {
	m := fuzzManager(f)
	f.Add(fuzzSeal(f, m, 0, "", bson.D{{Key: "visits", Value: int64(3)}}))
	f.Add(fuzzSeal(f, m, 1, "ada", bson.D{{Key: "cart", Value: bson.A{"x", int32(2)}}}))
	for _, s := range []string{"", "c1.", "c1.AAAA", "c2.AAAA", "AAAAAAAAAAAAAAAAAAAAAA." + strings.Repeat("B", 43),
		"c1." + strings.Repeat("A", 40), "c1.!!", "c1." + strings.Repeat("_", 5000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		rec, key, ok := m.openRecord(v, fuzzNow)
		if !ok {
			if rec != nil {
				t.Fatal("a record for a cookie that did not open")
			}
			return
		}
		if !strings.HasPrefix(v, sealPrefix) || len(v) > m.opts.MaxCookieBytes || key < 0 || key > 1 {
			t.Fatalf("opened %q with key %d", v, key)
		}
		if !rec.Expires.After(fuzzNow) || !rec.Absolute.After(fuzzNow) {
			t.Fatalf("opened an expired cookie: expires %v, absolute %v", rec.Expires, rec.Absolute)
		}
		for k := range rec.Data {
			if checkKey(k) != nil {
				t.Fatalf("opened a cookie with the invalid key %q", k)
			}
		}
		// Reseal with the current key and open again: the same session.
		plain, err := encodePayload(payload{Created: rec.Created, Issued: rec.Newest().At, User: rec.User, Data: rec.Data})
		if err != nil {
			t.Fatal(err)
		}
		again, key2, ok := m.openRecord(m.sealer.seal(m.sealAD, plain), fuzzNow)
		if !ok || key2 != 0 || !sameData(rec.Data, again.Data) || rec.User != again.User ||
			!rec.Created.Equal(again.Created) || !rec.Newest().At.Equal(again.Newest().At) {
			t.Fatalf("reseal changed the session: %+v -> %+v (ok %v, key %d)", rec, again, ok, key2)
		}
		// Bound to another cookie name, path, domain or purpose it must not open.
		for _, ad := range [][]byte{sealAD("other", "/", "", "mongosession"), sealAD(m.opts.CookieName, "/x", "", "mongosession"),
			sealAD(m.opts.CookieName, "/", "example.com", "mongosession"), sealAD(m.opts.CookieName, "/", "", "other app")} {
			if _, _, ok := m.sealer.open(ad, v, m.opts.MaxCookieBytes); ok {
				t.Fatalf("opened under another binding %q", ad)
			}
		}
	})
}

// FuzzDecodePayload feeds arbitrary plaintexts to the payload decoder, which FuzzOpen can only reach through
// authentic cookies: it must never panic, and what it accepts must survive an encode/decode round trip.
func FuzzDecodePayload(f *testing.F) {
	good, err := encodePayload(payload{Created: fuzzNow, Issued: fuzzNow, User: "ada", Data: map[string]bson.RawValue{
		"n": {Type: bson.TypeInt64, Value: []byte{1, 0, 0, 0, 0, 0, 0, 0}}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{5, 0, 0, 0, 0})
	f.Add(good[:len(good)-3])
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePayload(b)
		if err != nil {
			return
		}
		for k := range p.Data {
			if checkKey(k) != nil {
				t.Fatalf("accepted the invalid key %q", k)
			}
		}
		enc, err := encodePayload(p)
		if err != nil {
			t.Fatalf("cannot re-encode an accepted payload: %v", err)
		}
		q, err := decodePayload(enc)
		if err != nil || !sameData(p.Data, q.Data) || p.User != q.User || !p.Created.Equal(q.Created) ||
			!p.Issued.Equal(q.Issued) {
			t.Fatalf("round trip changed the payload: %+v -> %+v, %v", p, q, err)
		}
	})
}

// readCorpus returns the committed seed corpus of a fuzz target: file name → the one string or []byte value.
func readCorpus(t *testing.T, target string) map[string][]byte {
	dir := filepath.Join("testdata", "fuzz", target)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 2 || lines[0] != "go test fuzz v1" {
			t.Fatalf("%s: not a one-value corpus file", e.Name())
		}
		lit := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(lines[1], "string("), "[]byte("), ")")
		v, err := strconv.Unquote(lit)
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		out[e.Name()] = []byte(v)
	}
	return out
}

// TestFuzzSeedCorpus keeps the committed seeds meaningful: the sealed ones open (with the current and the old
// key), the garbage does not, and the payload seeds decode as their names say.
func TestFuzzSeedCorpus(t *testing.T) {
	m := fuzzManager(t)
	opened := 0
	for name, v := range readCorpus(t, "FuzzOpen") {
		_, key, ok := m.openRecord(string(v), fuzzNow)
		if want := strings.HasPrefix(name, "sealed-"); ok != want {
			t.Errorf("FuzzOpen seed %s: opened %v, want %v", name, ok, want)
		}
		if ok && key == 1 != strings.Contains(name, "old-key") {
			t.Errorf("FuzzOpen seed %s: opened with key %d", name, key)
		}
		if ok {
			opened++
		}
	}
	if opened < 3 {
		t.Errorf("only %d sealed seeds", opened)
	}
	for name, b := range readCorpus(t, "FuzzDecodePayload") {
		_, err := decodePayload(b)
		if want := strings.HasPrefix(name, "valid-"); (err == nil) != want {
			t.Errorf("FuzzDecodePayload seed %s: error %v", name, err)
		}
	}
}
