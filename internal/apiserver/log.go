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
