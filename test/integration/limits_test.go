package integration

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/svcnet/svcnet/internal/apiserver"
)

// dialAPI opens a raw TLS connection to the API (loopback; the test does
// not check the certificate, it checks the connection's fate).
func dialAPI(t *testing.T, s *server) *tls.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", s.started.APIAddr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedBy reports whether the server closes c by deadline (reading
// whatever it still sends).
func closedBy(c net.Conn, deadline time.Time) error {
	_ = c.SetReadDeadline(deadline)
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.New("still open")
	}
	return nil
}

func TestIdleAndTricklingConnectionsAreClosed(t *testing.T) {
	const idle, timeout = 2 * time.Second, 3 * time.Second
	s := startServer(t, serverOpts{limits: &apiserver.Limits{RequestTimeout: timeout, IdleTimeout: idle}})

	t.Run("idle keep-alive connections, each after its 401", func(t *testing.T) {
		conns := make([]*tls.Conn, 50)
		for i := range conns {
			c := dialAPI(t, s)
			fmt.Fprintf(c, "GET /api/v1/pods HTTP/1.1\r\nHost: svcnet\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || resp.Close {
				t.Fatalf("code %d, close %v: want a kept-alive 401", resp.StatusCode, resp.Close)
			}
			conns[i] = c
		}
		start := time.Now()
		for i, c := range conns {
			if err := closedBy(c, start.Add(idle+3*time.Second)); err != nil {
				t.Fatalf("connection %d: %v %s after its answer (idle timeout %s)", i, err, time.Since(start).Round(time.Millisecond), idle)
			}
		}
	})

	for _, tc := range []struct {
		name, auth string
	}{{"a trickled body, authenticated", "Authorization: Bearer " + s.token() + "\r\n"}, {"a trickled body, unauthenticated", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialAPI(t, s)
			start := time.Now()
			fmt.Fprintf(c, "POST /api/v1/namespaces/default/services HTTP/1.1\r\nHost: svcnet\r\n%sContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", tc.auth)
			// One byte every 250ms: the body would take four minutes.
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for i := 0; i < 1000; i++ {
					select {
					case <-stop:
						return
					case <-time.After(250 * time.Millisecond):
					}
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}()
			_ = c.SetReadDeadline(time.Now().Add(timeout + 10*time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := http.StatusGatewayTimeout
				if tc.auth == "" {
					want = http.StatusUnauthorized
				}
				if resp.StatusCode != want {
					t.Fatalf("code %d, want %d: %s", resp.StatusCode, want, body)
				}
				if want == http.StatusGatewayTimeout && !strings.Contains(string(body), `"reason":"Timeout"`) {
					t.Errorf("body %s", body)
				}
			}
			if err := closedBy(c, start.Add(timeout+10*time.Second)); err != nil {
				t.Fatalf("%v %s after the headers (request timeout %s)", err, time.Since(start).Round(time.Millisecond), timeout)
			}
			if took := time.Since(start); took > timeout+2*time.Second {
				t.Fatalf("closed after %s, want within the request timeout %s", took.Round(time.Millisecond), timeout)
			}
		})
	}
}
