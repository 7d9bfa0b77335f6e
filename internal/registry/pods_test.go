package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestAddDefaultTolerations(t *testing.T) {
	secs := func(n int64) *int64 { return &n }
	cases := []struct {
		name  string
		given []corev1.Toleration
		// want: the tolerationSeconds of the not-ready and unreachable
		// tolerations the pod ends with (nil: tolerated forever).
		wantNotReady, wantUnreachable *int64
		wantCount                     int
	}{
		{"none given: both for 300s", nil, secs(300), secs(300), 2},
		{"its own not-ready toleration is kept", []corev1.Toleration{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(10)}},
			secs(10), secs(300), 2},
		{"tolerating every taint adds nothing", []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, nil, nil, 1},
		{"a NoSchedule toleration does not count", []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			secs(300), secs(300), 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := corev1.PodSpec{Tolerations: tc.given}
			AddDefaultTolerations(&spec)
			if len(spec.Tolerations) != tc.wantCount {
				t.Fatalf("%d tolerations, want %d: %+v", len(spec.Tolerations), tc.wantCount, spec.Tolerations)
			}
			for key, want := range map[string]*int64{corev1.TaintNodeNotReady: tc.wantNotReady, corev1.TaintNodeUnreachable: tc.wantUnreachable} {
				var got *int64
				for _, tol := range spec.Tolerations {
					if tol.Key == key && tol.Effect == corev1.TaintEffectNoExecute {
						got = tol.TolerationSeconds
					}
				}
				if (got == nil) != (want == nil) || (got != nil && *got != *want) {
					t.Errorf("%s: tolerationSeconds %v, want %v", key, got, want)
				}
			}
		})
	}
}
