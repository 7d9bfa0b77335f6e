package process

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// LogWriter receives log bytes; Flush pushes them to the client.
type LogWriter = interface {
	io.Writer
	Flush()
}

// ErrNoPod says the runtime does not run that pod or container.
var ErrNoPod = errors.New("not running here")

// Logs writes the output of container o.Container: the current process's,
// or with Previous the one before; TailLines, LimitBytes, Timestamps as
// kubectl asks; Follow keeps writing until the process exits or ctx ends.
func (r *Runtime) Logs(ctx context.Context, ns, name string, o *corev1.PodLogOptions, w LogWriter) error {
	ctr := o.Container
	r.mu.Lock()
	ps, c, err := r.containerNamed(ns, name, ctr)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	restart, running, exited := c.restarts, c.running, c.exited
	started := c.cmd != nil
	r.mu.Unlock()
	if o.Previous {
		if restart == 0 || !started {
			return fmt.Errorf("previous terminated container %q in pod %q not found", ctr, name)
		}
		restart--
		running = false
	}
	if !started {
		return fmt.Errorf("container %q in pod %q is waiting to start", ctr, name)
	}
	f, err := os.Open(logPath(filepath.Join(ps.dir, ctr), restart))
	if err != nil {
		return err
	}
	defer f.Close()
	out := &logOut{w: w, timestamps: o.Timestamps, limit: -1}
	if o.LimitBytes != nil {
		out.limit = *o.LimitBytes
	}
	if o.TailLines != nil {
		if err := seekTail(f, *o.TailLines); err != nil {
			return err
		}
	}
	rd := bufio.NewReader(f)
	for {
		line, err := rd.ReadBytes('\n')
		if len(line) > 0 && (err == nil || !o.Follow || !running) {
			if !out.line(line) {
				return nil
			}
		}
		if err == nil {
			continue
		}
		if err != io.EOF {
			return err
		}
		w.Flush()
		if !o.Follow || !running {
			return nil
		}
		// Follow: wait for more, until the process exits (then drain).
		select {
		case <-ctx.Done():
			return nil
		case <-exited:
			running = false
			if len(line) > 0 {
				rd = bufio.NewReader(io.MultiReader(bytes.NewReader(line), f))
			}
		case <-time.After(100 * time.Millisecond):
			if len(line) > 0 {
				rd = bufio.NewReader(io.MultiReader(bytes.NewReader(line), f))
			}
		}
	}
}

// logOut writes stored lines ("<RFC3339Nano> <text>") as asked.
type logOut struct {
	w          LogWriter
	timestamps bool
	limit      int64 // < 0: none
}

func (o *logOut) line(l []byte) bool {
	if !o.timestamps {
		if i := bytes.IndexByte(l, ' '); i >= 0 {
			l = l[i+1:]
		}
	}
	if o.limit >= 0 && int64(len(l)) > o.limit {
		l = l[:o.limit]
	}
	n, err := o.w.Write(l)
	if o.limit >= 0 {
		o.limit -= int64(n)
	}
	return err == nil && o.limit != 0
}

// seekTail positions f at the start of its last n lines.
func seekTail(f *os.File, n int64) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if n == 0 {
		_, err := f.Seek(size, io.SeekStart)
		return err
	}
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	lines := int64(0)
	pos := size
	for pos > 0 {
		k := int64(chunk)
		if pos < k {
			k = pos
		}
		pos -= k
		if _, err := f.ReadAt(buf[:k], pos); err != nil && err != io.EOF {
			return err
		}
		for i := k - 1; i >= 0; i-- {
			if buf[i] == '\n' && pos+i != size-1 {
				if lines++; lines == n {
					_, err := f.Seek(pos+i+1, io.SeekStart)
					return err
				}
			}
		}
	}
	_, err = f.Seek(0, io.SeekStart)
	return err
}

// stampedWriter prefixes each line of a process's output with the time it
// arrived, as the kubelet's log files do.
type stampedWriter struct {
	w         io.Writer
	lineStart bool
	now       func() time.Time
}

func (s *stampedWriter) Write(p []byte) (int, error) {
	total := len(p)
	var b bytes.Buffer
	for len(p) > 0 {
		if s.lineStart {
			b.WriteString(s.now().UTC().Format(time.RFC3339Nano))
			b.WriteByte(' ')
			s.lineStart = false
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			b.Write(p)
			break
		}
		b.Write(p[:i+1])
		p = p[i+1:]
		s.lineStart = true
	}
	if _, err := s.w.Write(b.Bytes()); err != nil {
		return 0, err
	}
	return total, nil
}

// containerNamed is container ctr of the newest pod ns/name (r.mu held).
func (r *Runtime) containerNamed(ns, name, ctr string) (*pod, *container, error) {
	ps := r.newestPod(ns, name)
	if ps == nil || ps.ctrs[ctr] == nil {
		return nil, nil, fmt.Errorf("container %q in pod %s/%s: %w", ctr, ns, name, ErrNoPod)
	}
	return ps, ps.ctrs[ctr], nil
}

// newestPod is the latest pod named ns/name the runtime runs (r.mu held).
func (r *Runtime) newestPod(ns, name string) *pod {
	var ps *pod
	for _, p := range r.pods {
		if p.ns == ns && p.name == name && (ps == nil || p.started.After(ps.started)) {
			ps = p
		}
	}
	return ps
}
