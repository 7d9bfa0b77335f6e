package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
)

// remoteCommandProtocols are the WebSocket subprotocols of attach and exec
// that kubectl 1.30 and later speak (v5 adds closing stdin), each with the
// channels stdin, stdout, stderr, error (a Status when the command ends)
// and resize (JSON terminal sizes).
var remoteCommandProtocols = func() map[string]wsstream.ChannelProtocolConfig {
	channels := []wsstream.ChannelType{wsstream.ReadChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.ReadChannel}
	return map[string]wsstream.ChannelProtocolConfig{
		"v5.channel.k8s.io": {Binary: true, Channels: channels},
		"v4.channel.k8s.io": {Binary: true, Channels: channels},
	}
}()

// streamIdle ends a remote-command session nobody has used for this long.
const streamIdle = 4 * time.Hour

// serveStream serves attach (to a container's process) or exec (a new
// process in the container) as a kubelet does: over WebSocket
// (v5/v4.channel.k8s.io, kubectl 1.30 and later) or SPDY (v4.channel.k8s.io,
// earlier kubectl).
func (s *LogServer) serveStream(w http.ResponseWriter, r *http.Request, kind, ns, pod, ctr string) {
	q := r.URL.Query()
	flag := func(name string) bool { b, _ := strconv.ParseBool(q.Get(name)); return b }
	want := streamsWanted{stdin: flag("stdin"), stdout: flag("stdout"), tty: flag("tty")}
	want.stderr = flag("stderr") && !want.tty
	command := q["command"]
	if kind == "exec" && len(command) == 0 {
		http.Error(w, "exec needs a command", http.StatusBadRequest)
		return
	}
	var st Streams
	var status io.Writer
	switch {
	case wsstream.IsWebSocketRequest(r):
		conn := wsstream.NewConn(remoteCommandProtocols)
		conn.SetIdleTimeout(streamIdle)
		_, channels, err := conn.Open(w, r)
		if err != nil {
			return // the handshake failed and was answered
		}
		defer conn.Close()
		st, status = want.streams(channels[0], channels[1], channels[2], channels[4]), channels[3]
	case httpstream.IsUpgradeRequest(r):
		conn, streams, err := openSPDY(w, r, want)
		if err != nil {
			return // answered
		}
		defer conn.Close()
		st, status = want.streams(streams["stdin"], streams["stdout"], streams["stderr"], streams["resize"]), streams["error"]
	default:
		http.Error(w, "attach and exec need a WebSocket or SPDY upgrade", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var err error
	if kind == "attach" {
		err = s.rt.Attach(ctx, ns, pod, ctr, st)
	} else {
		err = s.rt.Exec(ctx, ns, pod, ctr, command, st)
	}
	_ = json.NewEncoder(status).Encode(remoteCommandStatus(err))
}

// streamsWanted are the streams a remote-command request asks for.
type streamsWanted struct{ stdin, stdout, stderr, tty bool }

// streams are the Streams for the wanted ones of a connection's.
func (w streamsWanted) streams(stdin io.Reader, stdout, stderr io.Writer, resize io.Reader) Streams {
	st := Streams{TTY: w.tty}
	if w.stdin {
		st.Stdin = stdin
	}
	if w.stdout {
		st.Stdout = stdout
	}
	if w.stderr {
		st.Stderr = stderr
	}
	if w.tty && resize != nil {
		sizes := make(chan TerminalSize, 4)
		st.Resize = sizes
		go readSizes(resize, sizes)
	}
	return st
}

// openSPDY upgrades r to SPDY (v4.channel.k8s.io) and waits for the
// client's streams, by their streamType header: error, and each wanted.
func openSPDY(w http.ResponseWriter, r *http.Request, want streamsWanted) (httpstream.Connection, map[string]httpstream.Stream, error) {
	if _, err := httpstream.Handshake(r, w, []string{"v4.channel.k8s.io"}); err != nil {
		return nil, nil, err // answered with 403 and the protocols served
	}
	expected := 1 // error
	for _, b := range []bool{want.stdin, want.stdout, want.stderr, want.tty} {
		if b {
			expected++
		}
	}
	type arrival struct {
		stream    httpstream.Stream
		replySent <-chan struct{}
	}
	arrived := make(chan arrival, expected+4)
	// The reply to a new stream goes out after this handler returns: wait
	// for it below, not here.
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(st httpstream.Stream, replySent <-chan struct{}) error {
		arrived <- arrival{st, replySent}
		return nil
	})
	if conn == nil {
		return nil, nil, errors.New("spdy upgrade failed") // answered
	}
	conn.SetIdleTimeout(streamIdle)
	streams := map[string]httpstream.Stream{}
	timeout := time.After(30 * time.Second)
	for len(streams) < expected {
		select {
		case a := <-arrived:
			select {
			case <-a.replySent:
			case <-timeout:
			}
			streams[a.stream.Headers().Get(corev1.StreamType)] = a.stream
		case <-timeout:
			conn.Close()
			return nil, nil, fmt.Errorf("only %d of %d streams arrived", len(streams), expected)
		}
	}
	if streams["error"] == nil {
		conn.Close()
		return nil, nil, errors.New("no error stream")
	}
	return conn, streams, nil
}

// readSizes forwards the terminal sizes a client sends until it stops.
func readSizes(r io.Reader, out chan<- TerminalSize) {
	defer close(out)
	dec := json.NewDecoder(r)
	for {
		var size TerminalSize
		if err := dec.Decode(&size); err != nil {
			return
		}
		out <- size
	}
}

// remoteCommandStatus is what the error channel carries when a command
// ends, in the form kubectl reads: Success, a NonZeroExitCode with the
// code, or the failure.
func remoteCommandStatus(err error) metav1.Status {
	if err == nil {
		return metav1.Status{Status: metav1.StatusSuccess}
	}
	var exit ExitError
	if errors.As(err, &exit) {
		return metav1.Status{Status: metav1.StatusFailure, Reason: "NonZeroExitCode", Message: err.Error(),
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: fmt.Sprint(exit.Code)}}}}
	}
	return metav1.Status{Status: metav1.StatusFailure, Message: err.Error(), Reason: metav1.StatusReasonInternalError}
}
