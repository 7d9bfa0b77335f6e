package process

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	gwebsocket "github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"
	"k8s.io/client-go/tools/portforward"
)

// Port forwarding (`kubectl port-forward`), as a kubelet serves it: a SPDY
// connection (portforward.k8s.io) on which the client opens, per forwarded
// connection, an error stream and a data stream with the same requestID
// and the pod's port; the node dials the pod's port and copies. kubectl
// 1.30 and later tunnel the same SPDY inside a WebSocket
// (SPDY/3.1+portforward.k8s.io); earlier ones upgrade to SPDY directly.

const (
	portForwardProtocol = "portforward.k8s.io"
	tunnelProtocol      = "SPDY/3.1+" + portForwardProtocol
	// pairTimeout is how long a stream waits for its partner.
	pairTimeout = 30 * time.Second
)

// PodAddress is the address a pod's ports are reached at.
func (r *Runtime) PodAddress(ns, name string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := r.newestPod(ns, name)
	if ps == nil || ps.ip == "" {
		return "", fmt.Errorf("pod %s/%s: %w", ns, name, ErrNoPod)
	}
	return ps.ip, nil
}

func (s *LogServer) servePortForward(w http.ResponseWriter, r *http.Request, ns, pod string) {
	ip, err := s.rt.PodAddress(ns, pod)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	type arrival struct {
		stream    httpstream.Stream
		replySent <-chan struct{}
	}
	arrived := make(chan arrival, 16)
	onStream := func(st httpstream.Stream, replySent <-chan struct{}) error {
		arrived <- arrival{st, replySent}
		return nil
	}
	var conn httpstream.Connection
	switch {
	case gwebsocket.IsWebSocketUpgrade(r):
		up := gwebsocket.Upgrader{Subprotocols: []string{tunnelProtocol}, CheckOrigin: func(*http.Request) bool { return true }}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // answered
		}
		if ws.Subprotocol() != tunnelProtocol {
			_ = ws.Close()
			return
		}
		if conn, err = spdy.NewServerConnection(portforward.NewTunnelingConnection("portforward", ws), onStream); err != nil {
			_ = ws.Close()
			return
		}
	case httpstream.IsUpgradeRequest(r):
		if _, err := httpstream.Handshake(r, w, []string{portForwardProtocol}); err != nil {
			return // answered
		}
		if conn = spdy.NewResponseUpgrader().UpgradeResponse(w, r, onStream); conn == nil {
			return // answered
		}
	default:
		http.Error(w, "port-forward needs a WebSocket or SPDY upgrade", http.StatusBadRequest)
		return
	}
	defer conn.Close()
	conn.SetIdleTimeout(streamIdle)

	type pair struct {
		data, errs httpstream.Stream
		since      time.Time
	}
	pairs := map[string]*pair{}
	tick := time.NewTicker(pairTimeout / 2)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-conn.CloseChan():
			return
		case <-tick.C:
			for id, p := range pairs {
				if time.Since(p.since) > pairTimeout {
					for _, st := range []httpstream.Stream{p.data, p.errs} {
						if st != nil {
							_ = st.Reset()
						}
					}
					delete(pairs, id)
				}
			}
		case a := <-arrived:
			<-a.replySent
			h := a.stream.Headers()
			id := h.Get(corev1.PortForwardRequestIDHeader)
			p := pairs[id]
			if p == nil {
				p = &pair{since: time.Now()}
				pairs[id] = p
			}
			switch h.Get(corev1.StreamType) {
			case corev1.StreamTypeError:
				p.errs = a.stream
			case corev1.StreamTypeData:
				p.data = a.stream
			default:
				_ = a.stream.Reset()
				continue
			}
			if p.data == nil || p.errs == nil {
				continue
			}
			delete(pairs, id)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.RemoveStreams(p.data, p.errs)
				forward(ip, pod, p.data, p.errs)
			}()
		}
	}
}

// forward copies one connection between the client's data stream and the
// pod's port; a failure is written to the error stream, as kubectl reports it.
func forward(ip, pod string, data, errStream httpstream.Stream) {
	defer errStream.Close()
	defer data.Close()
	portStr := data.Headers().Get(corev1.PortHeader)
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		fmt.Fprintf(errStream, "invalid port %q", portStr)
		return
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, portStr), 10*time.Second)
	if err != nil {
		fmt.Fprintf(errStream, "error forwarding port %d to pod %s: %v", port, pod, err)
		return
	}
	defer c.Close()
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(c, data) // the client's bytes to the pod
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		_, err := io.Copy(data, c) // the pod's to the client
		if err != nil && !errors.Is(err, net.ErrClosed) {
			fmt.Fprintf(errStream, "error copying from pod port %d: %v", port, err)
		}
		done <- struct{}{}
	}()
	<-done
	<-done
}
