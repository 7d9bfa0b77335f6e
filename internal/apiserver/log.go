package apiserver

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/svcnet/svcnet/internal/kube"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// serveLog streams a container's log through the node agent.
func (s *Server) serveLog(rq *request) error {
	ctx := rq.r.Context()
	obj, err := s.reg.Get(ctx, rq.res, rq.info.Namespace, rq.info.Name)
	if err != nil {
		return err
	}
	containers, err := podContainers(obj)
	if err != nil {
		return err
	}
	opts := &corev1.PodLogOptions{}
	if err := kube.DecodeQuery(rq.r.URL.Query(), opts); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if errs := kube.ValidatePodLogOptions(opts); len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Kind: "PodLogOptions"}, rq.info.Name, errs)
	}
	if opts.Container == "" {
		if len(containers) != 1 {
			return apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", rq.info.Name, containers))
		}
		opts.Container = containers[0]
	} else if !slices.Contains(containers, opts.Container) {
		return apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", opts.Container, rq.info.Name))
	}
	if s.cfg.Logs == nil {
		return apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q has no log source: no node agent serves this pod", opts.Container, rq.info.Name))
	}
	rq.w.Header().Set("Content-Type", "text/plain")
	fw := &flushWriter{w: rq.w}
	return s.cfg.Logs.Logs(ctx, rq.info.Namespace, rq.info.Name, opts, fw)
}

type flushWriter struct {
	w       http.ResponseWriter
	started bool
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.started = true
	return f.w.Write(p)
}

func (f *flushWriter) Flush() {
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
}

func podContainers(obj runtime.Object) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, apierrors.NewBadRequest("not a pod")
	}
	var out []string
	for _, c := range pod.Spec.InitContainers {
		out = append(out, c.Name)
	}
	for _, c := range pod.Spec.Containers {
		out = append(out, c.Name)
	}
	return out, nil
}

// serveStream serves pods/attach and pods/exec: it checks the pod and the
// container (the only one when none is named) and hands the request, to be
// upgraded, to the pod's node.
func (s *Server) serveStream(rq *request) error {
	if rq.r.Method != http.MethodGet && rq.r.Method != http.MethodPost {
		return apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "pods/" + rq.info.Subresource}, rq.r.Method)
	}
	obj, err := s.reg.Get(rq.r.Context(), rq.res, rq.info.Namespace, rq.info.Name)
	if err != nil {
		return err
	}
	if s.cfg.Streams == nil {
		return apierrors.NewBadRequest(fmt.Sprintf("pod %s: no node serves streams here", rq.info.Name))
	}
	if rq.info.Subresource == "portforward" {
		if p, ok := obj.(*corev1.Pod); ok && p.Status.Phase != corev1.PodRunning {
			return apierrors.NewBadRequest(fmt.Sprintf("pod %s is not running: its phase is %s", p.Name, p.Status.Phase))
		}
		return s.cfg.Streams.Stream(rq.w, rq.r, rq.info.Namespace, rq.info.Name, rq.info.Subresource, "")
	}
	containers, err := podContainers(obj)
	if err != nil {
		return err
	}
	c := rq.param("container")
	switch {
	case c == "" && len(containers) == 1:
		c = containers[0]
	case c == "":
		return apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", rq.info.Name, containers))
	case !slices.Contains(containers, c):
		return apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", c, rq.info.Name))
	}
	if rq.info.Subresource == "exec" && len(rq.q["command"]) == 0 {
		return apierrors.NewBadRequest("you must specify at least 1 command")
	}
	if s.cfg.Streams == nil {
		return apierrors.NewBadRequest(fmt.Sprintf("pod %s: no node serves streams here", rq.info.Name))
	}
	return s.cfg.Streams.Stream(rq.w, rq.r, rq.info.Namespace, rq.info.Name, rq.info.Subresource, c)
}
