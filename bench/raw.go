package bench

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Filter shapes of the raw-driver contender.
const (
	// FilterSame checks the session in the database: {_id, tokens.h, expires > now} to read and to write
	// without a read, {_id, expires > now} for the update after a read. (mongosession itself uses that filter
	// only for a write-only request; it reads by {_id} alone and checks the token and expiry on the document,
	// and writes after a read by {_id} alone.)
	FilterSame = "same"
	// FilterID is a plain {_id} filter everywhere (the token is then not checked by the database at all).
	FilterID = "id"
)

// Raw serves the routes with hand-written handlers that do the least database work a session needs: one
// FindOne to read, one UpdateOne to write, FindOne+UpdateOne to increment, one InsertOne for a new session,
// nothing when the session is untouched. Documents have mongosession's shape; the cookie is "<id>.<token>"
// and only sha256(token) is stored, but the token never rotates. It is the floor mongosession is measured
// against; filter is FilterSame or FilterID.
func Raw(coll *mongo.Collection, filter string) http.Handler {
	return (&rawHandler{coll: coll, sameFilter: filter == FilterSame, newDoc: NewDoc}).routes()
}

// RawMin serves the routes like Raw with FilterID, over documents holding only _id, data and expires
// (MinDoc): the least a session document can hold. It is the baseline of what every further field of
// mongosession's document costs a find or an update by _id.
func RawMin(coll *mongo.Collection) http.Handler {
	return (&rawHandler{coll: coll, newDoc: func(id string, _ []byte, now time.Time) bson.D { return MinDoc(id, now) }}).routes()
}

func (h *rawHandler) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/"+RouteUntouched, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(okBody) })
	mux.HandleFunc("/"+RouteRead, h.read)
	mux.HandleFunc("/"+RouteIncr, h.incr)
	mux.HandleFunc("/"+RouteWrite, h.write)
	mux.HandleFunc("/"+RouteNew, h.create)
	mux.HandleFunc(SeedPath, h.create)
	return mux
}

type rawHandler struct {
	coll       *mongo.Collection
	sameFilter bool
	newDoc     func(id string, tokenHash []byte, now time.Time) bson.D
}

var errNoSession = errors.New("no session")

// filter returns the filter for the session of r; auth adds the token hash (when the shape is FilterSame).
func (h *rawHandler) filter(r *http.Request, auth bool) (bson.D, error) {
	c, err := r.Cookie("session")
	if err != nil {
		return nil, errNoSession
	}
	id, token, ok := strings.Cut(c.Value, ".")
	if !ok {
		return nil, errNoSession
	}
	f := bson.D{{Key: "_id", Value: id}}
	if h.sameFilter {
		if auth {
			sum := sha256.Sum256([]byte(token))
			f = append(f, bson.E{Key: "tokens.h", Value: sum[:]})
		}
		f = append(f, bson.E{Key: "expires", Value: bson.D{{Key: "$gt", Value: time.Now()}}})
	}
	return f, nil
}

// load reads the session's data document.
func (h *rawHandler) load(r *http.Request) (bson.Raw, error) {
	f, err := h.filter(r, true)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Data bson.Raw `bson:"data"`
	}
	if err := h.coll.FindOne(r.Context(), f).Decode(&doc); err != nil {
		return nil, err
	}
	return doc.Data, nil
}

func (h *rawHandler) read(w http.ResponseWriter, r *http.Request) {
	data, err := h.load(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if s, ok := data.Lookup(keyUser).StringValueOK(); !ok || s == "" {
		http.Error(w, "read: no user", http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(okBody)
}

func (h *rawHandler) incr(w http.ResponseWriter, r *http.Request) {
	data, err := h.load(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	n, _ := data.Lookup(keyN).AsInt64OK()
	f, _ := h.filter(r, false) // authenticated by the read, like mongosession
	res, err := h.coll.UpdateOne(r.Context(), f, bson.D{{Key: "$inc", Value: bson.D{{Key: "data." + keyN, Value: int64(1)}}}})
	if err == nil && res.MatchedCount != 1 {
		err = errNoSession
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(strconv.AppendInt(nil, n+1, 10))
}

func (h *rawHandler) write(w http.ResponseWriter, r *http.Request) {
	f, err := h.filter(r, true)
	if err == nil {
		var res *mongo.UpdateResult
		res, err = h.coll.UpdateOne(r.Context(), f, bson.D{{Key: "$set", Value: bson.D{{Key: "data." + keyW, Value: changing()}}}})
		if err == nil && res.MatchedCount != 1 {
			err = errNoSession
		}
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(okBody)
}

func (h *rawHandler) create(w http.ResponseWriter, r *http.Request) {
	id, token := randomB64(16), randomB64(32)
	now := time.Now()
	sum := sha256.Sum256([]byte(token))
	_, err := h.coll.InsertOne(r.Context(), h.newDoc(id, sum[:], now))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: "session", Value: id + "." + token, Path: "/", HttpOnly: true,
		Expires: now.Add(24 * time.Hour)})
	_, _ = w.Write(okBody)
}

// NewDoc returns a session document of mongosession's shape with {user: "alice"} as data, as the raw
// contender's new route and the growth benchmark's bulk load write it.
func NewDoc(id string, tokenHash []byte, now time.Time) bson.D {
	now = now.Truncate(time.Millisecond)
	idle, abs := now.Add(2*time.Hour), now.Add(24*time.Hour)
	return bson.D{
		{Key: "_id", Value: id},
		{Key: "tokens", Value: bson.A{bson.D{{Key: "h", Value: tokenHash}, {Key: "at", Value: now}}}},
		{Key: "newest", Value: tokenHash},
		{Key: "data", Value: bson.D{{Key: keyUser, Value: "alice"}}},
		{Key: "created", Value: now},
		{Key: "absolute", Value: abs},
		{Key: "expires", Value: idle},
	}
}

// MinDoc returns the smallest session document: {_id, data: {user: "alice"}, expires}, as RawMin writes it.
func MinDoc(id string, now time.Time) bson.D {
	now = now.Truncate(time.Millisecond)
	return bson.D{
		{Key: "_id", Value: id},
		{Key: "data", Value: bson.D{{Key: keyUser, Value: "alice"}}},
		{Key: "expires", Value: now.Add(2 * time.Hour)},
	}
}

func randomB64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
