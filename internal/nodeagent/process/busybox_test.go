package process

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestBusybox128Images(t *testing.T) {
	r := &Runtime{appletDir: "/applets", oldAppletDir: "/applets-1.28", applets: map[string]bool{"nslookup": true, "sh": true}}
	cases := []struct {
		image        string
		busybox, old bool
	}{
		{"busybox", true, false},
		{"busybox:latest", true, false},
		{"busybox:1.28.3", true, true},
		{"busybox:1.28", true, true},
		{"docker.io/library/busybox:1.27.2-glibc", true, true},
		{"busybox:1.29", true, false},
		{"busybox:1.36.1", true, false},
		{"busybox@sha256:abcd", true, false},
		{"registry:5000/busybox:1.28.3", true, true},
		{"nginx:1.28", false, false},
		{"example.com/busybox-extras:1.28", false, false},
	}
	for _, tc := range cases {
		if got := r.isBusybox(tc.image); got != tc.busybox {
			t.Errorf("%s: busybox %v, want %v", tc.image, got, tc.busybox)
		}
		if got := r.oldBusybox(tc.image); got != tc.old {
			t.Errorf("%s: 1.28 or before %v, want %v", tc.image, got, tc.old)
		}
	}
	for image, want := range map[string]string{"busybox:1.28.3": "/applets-1.28/nslookup", "busybox:1.36": "/applets/nslookup"} {
		argv := r.busyboxCommand(containerWith(image, "nslookup", "web"))
		if argv[0] != want {
			t.Errorf("%s: nslookup runs %s, want %s", image, argv[0], want)
		}
	}
}

func containerWith(image string, command ...string) corev1.Container {
	return corev1.Container{Image: image, Command: command}
}
