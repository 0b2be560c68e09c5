package nodeconf

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/gossip"
	"github.com/legion-go/legion/discovery/memory"
)

// TestServerTimeouts: the servers close idle connections and bound slow clients.
func TestServerTimeouts(t *testing.T) {
	s := NewServer(http.NotFoundHandler())
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Fatalf("a limit is unset: %+v", s)
	}
	// The longest handler of the examples answers within 15 s (docs/operations.md).
	if s.WriteTimeout < 20*time.Second {
		t.Fatalf("WriteTimeout %v would cut off the examples' longest answers", s.WriteTimeout)
	}
}

// TestMaxConns: with a cap of two, two open keep-alive connections hold a third
// client's request back (it is not answered, not refused) until one of them closes;
// then it is answered.
func TestMaxConns(t *testing.T) {
	ln, err := Listen("127.0.0.1:0", 2)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	// Two connections, each answered once and kept open.
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("request on a held connection: %v %v", resp, err)
		}
		resp.Body.Close()
		held = append(held, c)
	}

	third := make(chan error, 1)
	go func() {
		client := &http.Client{Timeout: 20 * time.Second}
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
		}
		third <- err
	}()
	select {
	case err := <-third:
		t.Fatalf("a third connection was served while two were held (err %v)", err)
	case <-time.After(300 * time.Millisecond): // the absence of an answer: nothing to poll for
	}
	held[0].Close()
	select {
	case err := <-third:
		if err != nil {
			t.Fatalf("the third request after a held connection closed: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the third request was not served within 15s of a held connection closing")
	}
}

// TestHealth: /healthz answers while the process serves; /readyz answers 503 while the
// node's membership has not reached a seed (its view is partial), and 200 on a node
// whose membership has.
func TestHealth(t *testing.T) {
	start := func(name string, p discovery.Provider) string {
		t.Helper()
		n, err := actor.Start(context.Background(), actor.Config{Name: name, Membership: p})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Stop(context.Background()) })
		mux := http.NewServeMux()
		HandleHealth(mux, n)
		ln, err := Listen("127.0.0.1:0", 8)
		if err != nil {
			t.Fatal(err)
		}
		srv := NewServer(mux)
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		return "http://" + ln.Addr().String()
	}
	status := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		bufio.NewReader(resp.Body).WriteTo(&b)
		return resp.StatusCode, b.String()
	}

	// A seed nobody answers on: a port free a moment ago.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seed := l.Addr().String()
	l.Close()
	lonely, err := gossip.New(gossip.Config{Seeds: []string{seed}})
	if err != nil {
		t.Fatal(err)
	}
	alone := start("alone", lonely)
	if code, body := status(alone + HealthPath); code != http.StatusOK {
		t.Errorf("%s of a node that has not joined: %d %s, want 200", HealthPath, code, body)
	}
	if code, body := status(alone + ReadyPath); code != http.StatusServiceUnavailable {
		t.Errorf("%s of a node that has not joined: %d %s, want 503", ReadyPath, code, body)
	}

	joined := start("joined", memory.NewRegistry().Provider())
	actortest.Eventually(t, 10*time.Second, func() error {
		if code, body := status(joined + ReadyPath); code != http.StatusOK {
			return fmt.Errorf("%s of a node whose membership holds it: %d %s", ReadyPath, code, body)
		}
		return nil
	})
}
