// Package faultproxy is a TCP proxy between MongoDB clients and a MongoDB server that injects faults: it
// drops every connection, black-holes them (accepts, never answers), or delays replies. It frames the
// MongoDB wire protocol so that a delay can target replies to chosen commands (for example only writes, so
// that they are applied but acknowledged too late).
package faultproxy

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"time"
)

// Mode is what the proxy does to the traffic.
type Mode int

// Modes.
const (
	// Pass forwards everything at once.
	Pass Mode = iota
	// Drop closes every connection and closes new ones as soon as they are accepted (the server is down).
	Drop
	// BlackHole accepts connections and forwards nothing in either direction, as a network partition
	// does. Bytes are held, as TCP retransmits them: when the mode returns to Pass they are delivered, so a
	// request sent into the black hole can still be applied after it (the client has long given up).
	BlackHole
	// Delay holds the replies to the chosen commands for a while (see Proxy.Delay).
	Delay
)

// String names the mode as the report does.
func (m Mode) String() string {
	return [...]string{"pass", "drop", "black-hole", "delay"}[m]
}

// Stats counts what the proxy did.
type Stats struct {
	Accepted int // connections accepted
	Refused  int // connections closed at once in Drop mode
	Dropped  int // open connections closed by Drop
	Delayed  int // replies delayed
	Held     int // messages that waited in BlackHole
}

// Proxy forwards connections from its listener to the target address.
type Proxy struct {
	ln     net.Listener
	target string

	mu        sync.Mutex
	changed   *sync.Cond // broadcast on every mode change and every link closed
	mode      Mode
	delay     time.Duration
	delayCmds map[string]bool // nil: every reply
	links     map[*link]struct{}
	closed    bool
	stats     Stats
	wg        sync.WaitGroup
}

// Start listens on addr (for example "127.0.0.1:0") and forwards to target, in Pass mode.
func Start(addr, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, links: map[*link]struct{}{}}
	p.changed = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the listening address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Mode returns the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Stats returns the counters so far.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Pass restores normal forwarding; bytes held by BlackHole flow again.
func (p *Proxy) Pass() { p.setMode(Pass, 0, nil) }

// Drop closes every open connection; new ones are closed as soon as they are accepted, until Pass.
func (p *Proxy) Drop() {
	p.setMode(Drop, 0, nil)
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.stats.Dropped += len(links)
	p.mu.Unlock()
	for _, l := range links {
		l.close()
	}
}

// BlackHole stops forwarding in both directions, until Pass.
func (p *Proxy) BlackHole() { p.setMode(BlackHole, 0, nil) }

// Delay holds each reply to one of commands (every reply if none is named) for d after it left the
// server, until Pass. Requests go through at once: the server applies them on time.
func (p *Proxy) Delay(d time.Duration, commands ...string) {
	var set map[string]bool
	if len(commands) > 0 {
		set = map[string]bool{}
		for _, c := range commands {
			set[c] = true
		}
	}
	p.setMode(Delay, d, set)
}

func (p *Proxy) setMode(m Mode, d time.Duration, cmds map[string]bool) {
	p.mu.Lock()
	p.mode, p.delay, p.delayCmds = m, d, cmds
	p.changed.Broadcast()
	p.mu.Unlock()
}

// Close stops listening, closes every connection and waits for the proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	for _, l := range links {
		l.close()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.stats.Accepted++
		if p.closed || p.mode == Drop {
			p.stats.Refused++
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.mu.Unlock()
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		l := &link{p: p, client: c, server: s, done: make(chan struct{}), pending: map[int32]string{}}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = c.Close()
			_ = s.Close()
			continue
		}
		p.links[l] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go l.run()
	}
}

// link is one proxied connection: two directions, each a reader (framing messages) and a writer (delivering
// them when the mode allows).
type link struct {
	p              *Proxy
	client, server net.Conn
	done           chan struct{}
	closeOnce      sync.Once

	mu      sync.Mutex
	pending map[int32]string // requestID -> command name, for the replies
}

type message struct {
	data      []byte
	deliverAt time.Time // zero: at once
	eof       bool      // the source closed: half-close the destination after the earlier messages
}

func (l *link) close() {
	l.closeOnce.Do(func() {
		close(l.done)
		_ = l.client.Close()
		_ = l.server.Close()
		l.p.mu.Lock()
		delete(l.p.links, l)
		l.p.changed.Broadcast()
		l.p.mu.Unlock()
	})
}

func (l *link) run() {
	defer l.p.wg.Done()
	var wg sync.WaitGroup
	up := make(chan message, 256)
	down := make(chan message, 256)
	wg.Add(4)
	go func() { defer wg.Done(); l.read(l.client, up, true) }()
	go func() { defer wg.Done(); l.read(l.server, down, false) }()
	go func() { defer wg.Done(); l.write(l.server, up) }()
	go func() { defer wg.Done(); l.write(l.client, down) }()
	wg.Wait()
	l.close()
}

// maxMessage bounds one wire message (MongoDB's own limit is 48 MB).
const maxMessage = 48 << 20

// read frames wire messages from src and queues them. Requests record their command name; replies get the
// delivery time the mode gives them.
func (l *link) read(src net.Conn, out chan<- message, request bool) {
	defer func() {
		select {
		case out <- message{eof: true}:
		case <-l.done:
		}
	}()
	var header [16]byte
	for {
		if _, err := io.ReadFull(src, header[:]); err != nil {
			return
		}
		size := int32(binary.LittleEndian.Uint32(header[0:]))
		if size < 16 || size > maxMessage {
			l.close()
			return
		}
		data := make([]byte, size)
		copy(data, header[:])
		if _, err := io.ReadFull(src, data[16:]); err != nil {
			return
		}
		m := message{data: data}
		if request {
			l.mu.Lock()
			l.pending[int32(binary.LittleEndian.Uint32(header[4:]))] = commandName(data)
			l.mu.Unlock()
		} else {
			responseTo := int32(binary.LittleEndian.Uint32(header[8:]))
			l.mu.Lock()
			cmd := l.pending[responseTo]
			delete(l.pending, responseTo)
			l.mu.Unlock()
			l.p.mu.Lock()
			if l.p.mode == Delay && (l.p.delayCmds == nil || l.p.delayCmds[cmd]) {
				m.deliverAt = time.Now().Add(l.p.delay)
				l.p.stats.Delayed++
			}
			l.p.mu.Unlock()
		}
		select {
		case out <- m:
		case <-l.done:
			return
		}
	}
}

// write delivers queued messages to dst in order, holding them while the proxy black-holes and until their
// delivery time.
func (l *link) write(dst net.Conn, in <-chan message) {
	for {
		var m message
		select {
		case m = <-in:
		case <-l.done:
			return
		}
		if !l.waitDeliverable() {
			return
		}
		if d := time.Until(m.deliverAt); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-l.done:
				t.Stop()
				return
			}
			if !l.waitDeliverable() { // a black hole that began meanwhile holds it too
				return
			}
		}
		if m.eof {
			// The source closed after sending everything before this: so does the link (a reply to a request
			// delivered just now would meet a closed socket anyway).
			l.close()
			return
		}
		if _, err := dst.Write(m.data); err != nil {
			l.close()
			return
		}
	}
}

// waitDeliverable blocks while the proxy black-holes; it reports false once the link is closed.
func (l *link) waitDeliverable() bool {
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	held := false
	for l.p.mode == BlackHole && !l.isClosed() {
		if !held {
			held = true
			l.p.stats.Held++
		}
		l.p.changed.Wait()
	}
	return !l.isClosed()
}

func (l *link) isClosed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// Wire protocol op codes.
const (
	opQuery = 2004
	opMsg   = 2013
)

// commandName returns the name of the command a request carries (the first key of its body), or "".
func commandName(data []byte) string {
	op := binary.LittleEndian.Uint32(data[12:])
	var doc []byte
	switch op {
	case opMsg:
		// flagBits, then sections; kind 0 is the body document.
		rest := data[20:]
		for len(rest) > 0 {
			kind := rest[0]
			rest = rest[1:]
			if kind == 0 {
				doc = rest
				break
			}
			// kind 1: int32 size (including itself), then the identifier and documents.
			if len(rest) < 4 {
				return ""
			}
			size := int(binary.LittleEndian.Uint32(rest))
			if size < 4 || size > len(rest) {
				return ""
			}
			rest = rest[size:]
		}
	case opQuery:
		// flags, fullCollectionName (cstring), numberToSkip, numberToReturn, query.
		rest := data[20:]
		i := bytes.IndexByte(rest, 0)
		if i < 0 || len(rest) < i+9 {
			return ""
		}
		doc = rest[i+9:]
	}
	// document: int32 size, then elements: type byte, cstring name, ...
	if len(doc) < 6 || doc[4] == 0 {
		return ""
	}
	name := doc[5:]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		return string(name[:i])
	}
	return ""
}
