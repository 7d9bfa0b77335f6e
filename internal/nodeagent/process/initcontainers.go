package process

import (
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Init containers run as a kubelet runs them: one at a time, in order, each
// to a successful exit before the next starts and before any app
// container; a failed one is restarted with back-off (or fails the pod when
// its restartPolicy is Never). A sidecar (an init container with
// restartPolicy Always) is started in its turn and kept running beside the
// app containers; the next starts once it has started.

func isSidecar(spec corev1.Container) bool {
	return spec.RestartPolicy != nil && *spec.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// syncInit advances the pod's init containers; initialized says all are
// done (sidecars started), failed that one failed for good.
func (r *Runtime) syncInit(p *corev1.Pod, ps *pod, now time.Time, wait *time.Duration) (initialized, failed bool) {
	later := func(d time.Duration) {
		if d > 0 && (*wait == 0 || d < *wait) {
			*wait = d
		}
	}
	for _, spec := range p.Spec.InitContainers {
		c := ps.ctrs[spec.Name]
		if c == nil {
			c = &container{spec: spec}
			for _, old := range p.Status.InitContainerStatuses {
				if old.Name == spec.Name && old.State.Terminated != nil && old.State.Terminated.ExitCode == 0 && !isSidecar(spec) {
					c.succeeded = true // completed under an earlier agent
				}
			}
			ps.ctrs[spec.Name] = c
		}
		switch {
		case ps.stopping:
			return false, false
		case c.succeeded:
			continue
		case c.running && isSidecar(spec):
			continue
		case c.running:
			return false, false // Notify resyncs when it exits
		case c.cmd != nil && c.last != nil && c.last.ExitCode == 0 && !isSidecar(spec):
			c.succeeded, c.waitingReason, c.nextStart = true, "", time.Time{}
			continue
		case c.cmd != nil && p.Spec.RestartPolicy == corev1.RestartPolicyNever && !isSidecar(spec):
			return false, true
		}
		if now.Before(c.nextStart) {
			c.waitingReason = "CrashLoopBackOff"
			c.waitingMessage = fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", c.backoff.Round(time.Second), spec.Name, p.Name, p.Namespace, p.UID)
			later(c.nextStart.Sub(now))
			return false, false
		}
		if c.cmd != nil {
			c.restarts++
		}
		if err := r.start(p, ps, c, now); err != nil {
			c.waitingReason, c.waitingMessage = "RunContainerError", err.Error()
			var ve *volumeError
			if errors.As(err, &ve) {
				c.waitingReason = "PodInitializing"
				later(volumeRetry)
				return false, false
			}
			r.crashed(c, now)
			later(c.nextStart.Sub(now))
			return false, false
		}
		if !isSidecar(spec) {
			return false, false
		}
	}
	return true, false
}

// initStatuses writes the init containers' statuses into st and reports
// whether all have completed (sidecars: started).
func (r *Runtime) initStatuses(p *corev1.Pod, ps *pod, st *corev1.PodStatus) bool {
	st.InitContainerStatuses = nil
	done := true
	for _, spec := range p.Spec.InitContainers {
		c := ps.ctrs[spec.Name]
		cs := corev1.ContainerStatus{Name: spec.Name, Image: spec.Image, ImageID: "process://" + spec.Image}
		started := false
		cs.Started = &started
		switch {
		case c == nil:
			done = false
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "PodInitializing"}
		case c.running:
			cs.RestartCount, cs.ContainerID = c.restarts, containerID(c.pid)
			started = true
			cs.Ready = isSidecar(spec) && c.ready && c.startedOK
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.started.Truncate(time.Second))}
			done = done && isSidecar(spec)
		case c.succeeded && c.last != nil:
			cs.RestartCount, cs.ContainerID = c.restarts, c.last.ContainerID
			cs.State.Terminated = c.last.DeepCopy()
		case c.succeeded:
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}
		default:
			done = false
			cs.RestartCount = c.restarts
			reason := c.waitingReason
			if reason == "" {
				reason = "PodInitializing"
			}
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: c.waitingMessage}
			if c.last != nil {
				if p.Spec.RestartPolicy == corev1.RestartPolicyNever {
					cs.State = corev1.ContainerState{Terminated: c.last.DeepCopy()}
				} else {
					cs.LastTerminationState.Terminated = c.last.DeepCopy()
				}
			}
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	return done
}
