// Package browser models what a browser does with cookies, which is what the session library has to
// survive: every request carries the cookies the browser held when the request started, requests run in
// parallel, and every Set-Cookie overwrites the stored cookie when its response arrives, whatever order the
// responses come back in.
package browser

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Reply is the JSON body of the app's session routes.
type Reply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	User  string `json:"user"`
	N     int64  `json:"n"`
	SID   string `json:"sid"`
}

// Response is what one request saw.
type Response struct {
	Method, Path string
	Base         string // the app that served it
	Status       int    // 0: no response (transport error, see Err)
	Err          error
	Sent         string // the Cookie header the request carried
	SetCookie    []string
	Cleared      bool // a Set-Cookie expired a cookie
	Reply        Reply
	HasReply     bool // Reply was decoded from the body
	Start, End   time.Time
}

// OK reports a 2xx response (or a 101 for a WebSocket handshake).
func (r *Response) OK() bool {
	return r.Status >= 200 && r.Status < 300 || r.Status == http.StatusSwitchingProtocols
}

// Failed reports a response that is not a success: no response at all, or a status of 300 or more other
// than 101.
func (r *Response) Failed() bool { return !r.OK() }

// Browser is one visitor with its own cookie jar.
type Browser struct {
	ID int
	hc *http.Client

	mu      sync.Mutex
	jar     map[string]string // cookie name -> value (one host, one path)
	changes []JarChange       // the latest changes, oldest first
}

// JarChange is one change of the jar, kept as evidence: which response changed it, and how.
type JarChange struct {
	At   time.Time
	What string
}

// maxChanges bounds the jar's history.
const maxChanges = 16

// LastChangeBefore returns the last change of the jar before t, if one is remembered.
func (b *Browser) LastChangeBefore(t time.Time) (JarChange, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.changes) - 1; i >= 0; i-- {
		if b.changes[i].At.Before(t) {
			return b.changes[i], true
		}
	}
	return JarChange{}, false
}

// New returns a browser with an empty jar that sends its requests through client (which must have no Jar:
// the browser handles cookies itself).
func New(id int, client *http.Client) *Browser {
	return &Browser{ID: id, hc: client, jar: map[string]string{}}
}

// CookieHeader returns the Cookie header the browser would send now ("" if it holds no cookie).
func (b *Browser) CookieHeader() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	names := make([]string, 0, len(b.jar))
	for n := range b.jar {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + b.jar[n]
	}
	return strings.Join(parts, "; ")
}

// Empty reports whether the jar holds no cookie.
func (b *Browser) Empty() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.jar) == 0
}

// absorb applies the response's Set-Cookie headers, in order, as a browser does on arrival.
func (b *Browser) absorb(h http.Header, res *Response) {
	res.SetCookie = h.Values("Set-Cookie")
	if len(res.SetCookie) == 0 {
		return
	}
	cookies := (&http.Response{Header: h}).Cookies()
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	for _, c := range cookies {
		what := fmt.Sprintf("the %d to %s %s (sent with %s, answered after %v) ", res.Status, res.Method, res.Path,
			Short(res.Sent), now.Sub(res.Start).Round(time.Millisecond))
		if c.MaxAge < 0 || !c.Expires.IsZero() && !c.Expires.After(now) && c.MaxAge == 0 {
			delete(b.jar, c.Name)
			res.Cleared = true
			what += "cleared the cookie"
		} else {
			b.jar[c.Name] = c.Value
			what += "set " + Short(c.Name+"="+c.Value)
		}
		b.changes = append(b.changes, JarChange{At: now, What: what})
		if len(b.changes) > maxChanges {
			b.changes = b.changes[1:]
		}
	}
}

// Do sends one request to the app at base with the cookies held now and applies the response's cookies.
func (b *Browser) Do(ctx context.Context, base, method, path string) *Response {
	res := &Response{Method: method, Path: path, Base: base, Start: time.Now()}
	defer func() { res.End = time.Now() }()
	req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
	if err != nil {
		res.Err = err
		return res
	}
	res.Sent = b.CookieHeader()
	if res.Sent != "" {
		req.Header.Set("Cookie", res.Sent)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		res.Err = err
		return res
	}
	defer resp.Body.Close()
	res.Status = resp.StatusCode
	b.absorb(resp.Header, res)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		res.Err = err
		return res
	}
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		res.HasReply = json.Unmarshal(body, &res.Reply) == nil
	}
	return res
}

// WebSocket opens a WebSocket to base+path with the cookies held now, reads the server's one text frame
// (a Reply) and closes. A 101 response's Set-Cookie headers are applied, as browsers do.
func (b *Browser) WebSocket(ctx context.Context, base, path string) *Response {
	res := &Response{Method: "GET", Path: path, Base: base, Start: time.Now()}
	defer func() { res.End = time.Now() }()
	u, err := url.Parse(base)
	if err != nil {
		res.Err = err
		return res
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		res.Err = err
		return res
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	res.Sent = b.CookieHeader()
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
		path, u.Host, base64.StdEncoding.EncodeToString(nonce[:]))
	if res.Sent != "" {
		req += "Cookie: " + res.Sent + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		res.Err = err
		return res
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		res.Err = err
		return res
	}
	res.Status = resp.StatusCode
	b.absorb(resp.Header, res)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return res
	}
	payload, err := readFrame(br)
	if err != nil {
		res.Err = fmt.Errorf("websocket frame: %w", err)
		return res
	}
	res.HasReply = json.Unmarshal(payload, &res.Reply) == nil
	_, _ = conn.Write([]byte{0x88, 0x80, 0, 0, 0, 0}) // close, masked with a zero key, as clients must mask
	return res
}

// readFrame reads one unmasked server frame and returns its payload.
func readFrame(r *bufio.Reader) ([]byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	if h[0]&0x0f != 1 {
		return nil, errors.New("not a text frame")
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return nil, err
		}
		n = int(binary.BigEndian.Uint16(ext[:]))
	case 127:
		return nil, errors.New("frame too long")
	}
	payload := make([]byte, n)
	_, err := io.ReadFull(r, payload)
	return payload, err
}

// Short abbreviates a Cookie header for reports: each value cut to its first characters.
func Short(cookieHeader string) string {
	if cookieHeader == "" {
		return "(none)"
	}
	parts := strings.Split(cookieHeader, "; ")
	for i, p := range parts {
		name, value, _ := strings.Cut(p, "=")
		id, token, found := strings.Cut(value, ".")
		if found && len(id) > 6 && len(token) > 6 {
			value = id[:6] + "…." + token[:6] + "…"
		} else if len(value) > 12 {
			value = value[:12] + "…"
		}
		parts[i] = name + "=" + value
	}
	return strings.Join(parts, "; ")
}
