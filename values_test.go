package mongosession_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// browser keeps one session cookie between requests, as a browser would, for tests that call the middleware
// directly (in the test's goroutine) and look at what the handler saw.
type browser struct {
	m      *mongosession.Manager
	cookie *http.Cookie
}

// do runs f as the handler of one request carrying the browser's cookie, and keeps the cookie the response
// sets.
func (b *browser) do(f func(s *mongosession.Session)) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "/", nil)
	if b.cookie != nil {
		req.AddCookie(b.cookie)
	}
	rec := httptest.NewRecorder()
	b.m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f(mongosession.FromContext(r.Context()))
	})).ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == b.m.Options().CookieName {
			b.cookie = c
			if c.MaxAge < 0 {
				b.cookie = nil
			}
		}
	}
	return rec
}

// bothModes runs f against a database-mode and a cookie-mode manager, each with its own collection.
func bothModes(t *testing.T, f func(t *testing.T, e *env)) {
	for _, mode := range []struct {
		name string
		opts mongosession.Options
	}{{"database", mongosession.Options{}}, {"cookie", cookieOpts()}} {
		t.Run(mode.name, func(t *testing.T) { f(t, newEnv(t, envConfig{opts: mode.opts})) })
	}
}

type account struct {
	Name  string
	Admin bool
	Since time.Time
	Tags  []string
	Count int
}

func TestValuesComeBackAsTheyWentIn(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 678_901_234, time.FixedZone("CET", 3600))
	atStored := at.Truncate(time.Millisecond).UTC()
	oid := bson.NewObjectID()
	cases := []struct {
		name    string
		in, out any
	}{
		{"string", "ada", "ada"},
		{"bool", true, true},
		{"int", 42, int64(42)},
		{"negative int", -7, int64(-7)},
		{"int8", int8(-8), int64(-8)},
		{"int16", int16(1600), int64(1600)},
		{"int32", int32(32), int32(32)},
		{"int64", int64(1) << 40, int64(1) << 40},
		{"uint8", uint8(200), int64(200)},
		{"uint16", uint16(60000), int64(60000)},
		{"uint32", uint32(4_000_000_000), int64(4_000_000_000)},
		{"uint", uint(9), int64(9)},
		{"uint64", uint64(1) << 62, int64(1) << 62},
		{"float32", float32(1.5), 1.5},
		{"float64", 2.25, 2.25},
		{"time", at, atStored},
		{"DateTime", bson.NewDateTimeFromTime(at), atStored},
		{"bytes", []byte{1, 2, 3}, []byte{1, 2, 3}},
		{"nil", nil, nil},
		{"ObjectID", oid, oid},
		{"ints", []int{1, 2}, bson.A{int64(1), int64(2)}},
		{"strings", []string{"a", "b"}, bson.A{"a", "b"}},
		{"map", map[string]any{"n": 1}, bson.D{{Key: "n", Value: int64(1)}}}, // one key: Go maps have no order
		{"nested", bson.D{{Key: "n", Value: 2}, {Key: "when", Value: at}}, bson.D{{Key: "n", Value: int64(2)}, {Key: "when", Value: atStored}}},
		{"struct", account{Name: "ada", Count: 3}, bson.D{{Key: "name", Value: "ada"}, {Key: "admin", Value: false},
			{Key: "since", Value: time.Time{}.UnixMilli()}, {Key: "tags", Value: nil}, {Key: "count", Value: int64(3)}}},
	}
	// The zero time.Time is stored as a BSON date too; fix the expectation to what the driver writes.
	cases[len(cases)-1].out.(bson.D)[2].Value = time.UnixMilli(time.Time{}.UnixMilli()).UTC()

	bothModes(t, func(t *testing.T, e *env) {
		b := &browser{m: e.mgr}
		b.do(func(s *mongosession.Session) {
			for _, c := range cases {
				if err := s.Put(c.name, c.in); err != nil {
					t.Fatalf("Put %s: %v", c.name, err)
				}
			}
		})
		b.do(func(s *mongosession.Session) { // a new request: the values come from the database or the cookie
			for _, c := range cases {
				got, err := s.Get(c.name)
				if err != nil || !reflect.DeepEqual(got, c.out) {
					t.Errorf("%s: Put(%T %v), Get = %T %#v, %v; want %T %#v", c.name, c.in, c.in, got, got, err, c.out, c.out)
				}
			}
			n, err := s.GetInt("int")
			if n != 42 || err != nil {
				t.Errorf("GetInt = %d, %v", n, err)
			}
			if _, err := s.GetInt("string"); !errors.Is(err, mongosession.ErrType) {
				t.Errorf("GetInt of a string: %v, want ErrType", err)
			}
			var back account
			if err := s.Decode("struct", &back); err != nil || back.Name != "ada" || back.Count != 3 {
				t.Errorf("Decode into the struct: %+v, %v", back, err)
			}
			var ints []int
			if err := s.Decode("ints", &ints); err != nil || !reflect.DeepEqual(ints, []int{1, 2}) {
				t.Errorf("Decode into []int: %v, %v", ints, err)
			}
		})
	})
}

func TestUnstorableIntegers(t *testing.T) {
	m, _ := mongosession.New(memStore(), mongosession.Options{})
	httptestRecord(m, func(s *mongosession.Session) {
		if err := s.Put("big", uint64(1)<<63); !errors.Is(err, mongosession.ErrInvalidValue) {
			t.Errorf("Put of a uint64 above MaxInt64: %v, want ErrInvalidValue", err)
		}
		if err := s.Put("nested", map[string]uint{"n": 1 << 63}); !errors.Is(err, mongosession.ErrInvalidValue) {
			t.Errorf("Put of a nested uint above MaxInt64: %v, want ErrInvalidValue", err)
		}
	}, "")
}

func TestPop(t *testing.T) {
	bothModes(t, func(t *testing.T, e *env) {
		b := &browser{m: e.mgr}
		b.do(func(s *mongosession.Session) {
			for k, v := range map[string]any{"flash": "saved", "n": 7, "ok": true, "f": 1.5, "b": []byte("x"),
				"t": time.UnixMilli(1000).UTC(), "any": "a", "doc": account{Name: "ada"}, "keep": "k", "wrong": "s"} {
				if err := s.Put(k, v); err != nil {
					t.Fatal(err)
				}
			}
		})
		b.do(func(s *mongosession.Session) {
			str, err1 := s.PopString("flash")
			n, err2 := s.PopInt("n")
			ok, err3 := s.PopBool("ok")
			f, err4 := s.PopFloat64("f")
			by, err5 := s.PopBytes("b")
			tm, err6 := s.PopTime("t")
			a, err7 := s.Pop("any")
			var doc account
			err8 := s.PopDecode("doc", &doc)
			missing, err9 := s.PopString("missing")
			if err := errors.Join(err1, err2, err3, err4, err5, err6, err7, err8, err9); err != nil {
				t.Fatal(err)
			}
			if str != "saved" || n != 7 || !ok || f != 1.5 || string(by) != "x" || !tm.Equal(time.UnixMilli(1000)) ||
				a != "a" || doc.Name != "ada" || missing != "" {
				t.Fatalf("popped %q %d %v %v %q %v %v %+v %q", str, n, ok, f, by, tm, a, doc, missing)
			}
			// A value of another type is an error and stays.
			if _, err := s.PopInt64("wrong"); !errors.Is(err, mongosession.ErrType) {
				t.Fatalf("PopInt64 of a string: %v", err)
			}
			// Popped keys are gone for the rest of the request already.
			if ok, _ := s.Exists("flash"); ok {
				t.Fatal("a popped key is still visible")
			}
		})
		b.do(func(s *mongosession.Session) {
			keys, err := s.Keys()
			if err != nil || !reflect.DeepEqual(keys, []string{"keep", "wrong"}) {
				t.Fatalf("keys after Pop: %v, %v; want [keep wrong]", keys, err)
			}
		})
	})
}

// A flash message costs the request no database command of its own: one read and one write, as any request
// that reads and changes its session; a request with nothing to pop writes nothing.
func TestPopCommands(t *testing.T) {
	e := newEnv(t, envConfig{handler: func(e *env) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/", routes(e))
		mux.HandleFunc("/pop", func(w http.ResponseWriter, r *http.Request) {
			v, err := mongosession.FromContext(r.Context()).PopString("flash")
			if err != nil {
				w.Write([]byte("err " + err.Error()))
				return
			}
			w.Write([]byte("ok " + v))
		})
		return mux
	}})
	e.get("/put?k=flash&v=saved")
	e.get("/put?k=other&v=x")
	if n := e.count(e.client, "/readput?k=other&v=y"); n != 2 {
		t.Fatalf("a request that reads and writes: %d commands (the baseline), want 2", n)
	}
	if n := e.count(e.client, "/pop"); n != 2 {
		t.Fatalf("Pop: %d commands, want 2 (one read, one write)", n)
	}
	if got := e.get("/pop"); got != "ok " {
		t.Fatalf("second Pop: %q, want nothing", got)
	}
	if n := e.count(e.client, "/pop"); n != 1 {
		t.Fatalf("Pop of a missing key: %d commands, want 1 (the read)", n)
	}
	if n := e.docCount(bson.D{{Key: "data.flash", Value: bson.D{{Key: "$exists", Value: true}}}}); n != 0 {
		t.Fatal("the popped key is still stored")
	}
}
