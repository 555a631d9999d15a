package faultproxy

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// buildOpMsg builds an OP_MSG request whose body is {cmd: 1}.
func buildOpMsg(requestID int32, cmd string) []byte {
	doc := []byte{0, 0, 0, 0, 0x10}
	doc = append(doc, cmd...)
	doc = append(doc, 0, 1, 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(doc, uint32(len(doc)))
	msg := make([]byte, 16, 16+4+1+len(doc))
	msg = append(msg, 0, 0, 0, 0, 0) // flagBits, section kind 0
	msg = append(msg, doc...)
	binary.LittleEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.LittleEndian.PutUint32(msg[4:], uint32(requestID))
	binary.LittleEndian.PutUint32(msg[12:], opMsg)
	return msg
}

// echoServer answers every message with a copy whose responseTo is the request's id.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for {
					var h [16]byte
					if _, err := io.ReadFull(c, h[:]); err != nil {
						return
					}
					body := make([]byte, binary.LittleEndian.Uint32(h[:])-16)
					if _, err := io.ReadFull(c, body); err != nil {
						return
					}
					copy(h[8:], h[4:8])
					if _, err := c.Write(append(h[:], body...)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func start(t *testing.T) *Proxy {
	t.Helper()
	p, err := Start("127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// roundTrip sends one request and waits up to wait for its reply; it reports whether the reply came.
func roundTrip(t *testing.T, c net.Conn, id int32, cmd string, wait time.Duration) bool {
	t.Helper()
	if _, err := c.Write(buildOpMsg(id, cmd)); err != nil {
		return false // a dropped connection
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	var h [16]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return false
	}
	body := make([]byte, binary.LittleEndian.Uint32(h[:])-16)
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	if got := int32(binary.LittleEndian.Uint32(h[8:])); got != id {
		t.Fatalf("reply to %d, want %d", got, id)
	}
	return true
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCommandName(t *testing.T) {
	if got := commandName(buildOpMsg(1, "update")); got != "update" {
		t.Fatalf("commandName = %q", got)
	}
}

func TestPass(t *testing.T) {
	p := start(t)
	c := dial(t, p)
	for i := int32(1); i <= 3; i++ {
		if !roundTrip(t, c, i, "find", 5*time.Second) {
			t.Fatal("no reply in Pass mode")
		}
	}
}

func TestDropClosesAndRefuses(t *testing.T) {
	p := start(t)
	c := dial(t, p)
	if !roundTrip(t, c, 1, "find", 5*time.Second) {
		t.Fatal("no reply before Drop")
	}
	p.Drop()
	if roundTrip(t, c, 2, "find", 5*time.Second) {
		t.Fatal("a dropped connection still answered")
	}
	if roundTrip(t, dial(t, p), 3, "find", 5*time.Second) {
		t.Fatal("a connection made during Drop answered")
	}
	p.Pass()
	if !roundTrip(t, dial(t, p), 4, "find", 5*time.Second) {
		t.Fatal("no reply after Pass")
	}
}

func TestBlackHoleHoldsThenDelivers(t *testing.T) {
	p := start(t)
	c := dial(t, p)
	p.BlackHole()
	fresh := dial(t, p) // accepted during the black hole
	if roundTrip(t, fresh, 1, "find", 200*time.Millisecond) {
		t.Fatal("answered inside the black hole")
	}
	if roundTrip(t, c, 2, "find", 200*time.Millisecond) {
		t.Fatal("answered inside the black hole")
	}
	p.Pass()
	// The held requests are delivered: their replies come first, in order.
	for _, conn := range []struct {
		c  net.Conn
		id int32
	}{{fresh, 1}, {c, 2}} {
		_ = conn.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var h [16]byte
		if _, err := io.ReadFull(conn.c, h[:]); err != nil {
			t.Fatalf("held request not delivered after Pass: %v", err)
		}
		if got := int32(binary.LittleEndian.Uint32(h[8:])); got != conn.id {
			t.Fatalf("reply to %d, want %d", got, conn.id)
		}
		_, _ = io.ReadFull(conn.c, make([]byte, binary.LittleEndian.Uint32(h[:])-16))
	}
	if p.Stats().Held == 0 {
		t.Fatal("Stats.Held not counted")
	}
}

func TestDelayTargetsChosenCommands(t *testing.T) {
	p := start(t)
	c := dial(t, p)
	const d = 300 * time.Millisecond
	p.Delay(d, "update")
	begin := time.Now()
	if !roundTrip(t, c, 1, "find", 5*time.Second) {
		t.Fatal("no reply to find")
	}
	if took := time.Since(begin); took >= d {
		t.Fatalf("find was delayed (%v) though only update is", took)
	}
	begin = time.Now()
	if !roundTrip(t, c, 2, "update", 5*time.Second) {
		t.Fatal("no reply to update")
	}
	if took := time.Since(begin); took < d {
		t.Fatalf("update answered after %v, want at least %v", took, d)
	}
	if p.Stats().Delayed != 1 {
		t.Fatalf("Delayed = %d, want 1", p.Stats().Delayed)
	}
}
