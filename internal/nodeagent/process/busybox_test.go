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

// The Gateway API suite's echo-basic image runs svcnet echo unless the
// container or the image map names a command.
func TestEchoBasicImage(t *testing.T) {
	r := &Runtime{cfg: Config{Hello: []string{"svcnet", "hello"}, Echo: []string{"svcnet", "echo"},
		Images: map[string][]string{"example.com/mapped/echo-basic": {"mapped"}}}}
	for image, want := range map[string]string{
		"registry.k8s.io/gateway-api/echo-basic:v1.5.1":        "echo",
		"gcr.io/k8s-staging-gateway-api/echo-basic@sha256:abc": "echo",
		"echo-basic":                                "echo",
		"localhost:5000/echo-basic":                 "echo",
		"example.com/mapped/echo-basic:v1":          "mapped",
		"registry.k8s.io/gateway-api/echo-advanced": "hello",
		"registry.k8s.io/echo-basic-extra:v1":       "hello",
	} {
		argv := r.command(corev1.Container{Image: image})
		if got := argv[len(argv)-1]; got != want {
			t.Errorf("%s runs %v, want …%s", image, argv, want)
		}
	}
	if argv := r.command(corev1.Container{Image: "registry.k8s.io/gateway-api/echo-basic:v1", Command: []string{"own"}}); argv[0] != "own" {
		t.Errorf("a container's command was replaced: %v", argv)
	}
}
