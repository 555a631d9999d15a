package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// inspector looks at session documents directly (not through the fault proxy), to say in the evidence what
// the database held for a cookie when a failure was seen.
type inspector struct {
	coll *mongo.Collection
}

// cookieState describes the session document named by a Cookie header: whether it exists, and whether the
// cookie's token is among its accepted or its retired tokens.
func (in *inspector) cookieState(cookieHeader string) string {
	if in == nil || in.coll == nil {
		return ""
	}
	var id, token string
	for part := range strings.SplitSeq(cookieHeader, "; ") {
		_, value, _ := strings.Cut(part, "=")
		if i, t, ok := strings.Cut(value, "."); ok {
			id, token = i, t
		}
	}
	if id == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var doc struct {
		Tokens []struct {
			H  []byte    `bson:"h"`
			At time.Time `bson:"at"`
		} `bson:"tokens"`
		Retired [][]byte  `bson:"retired"`
		User    string    `bson:"user"`
		Expires time.Time `bson:"expires"`
	}
	err := in.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "database: no document for the cookie's session id"
	}
	if err != nil {
		return "database: " + err.Error()
	}
	h := sha256.Sum256([]byte(token))
	where := "neither accepted nor among the retired"
	for i, t := range doc.Tokens {
		if bytes.Equal(t.H, h[:]) {
			where = fmt.Sprintf("accepted (%d of %d, newest last)", i+1, len(doc.Tokens))
		}
	}
	for _, r := range doc.Retired {
		if bytes.Equal(r, h[:]) {
			where = "retired"
		}
	}
	newest := ""
	if n := len(doc.Tokens); n > 0 {
		newest = fmt.Sprintf(", newest token issued %v ago", time.Since(doc.Tokens[n-1].At).Round(time.Millisecond))
	}
	return fmt.Sprintf("database now: the session exists (user %q%s), the cookie's token is %s", doc.User, newest, where)
}
