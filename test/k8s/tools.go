//go:build tools

// Package k8s pins the commands the real-cluster tier builds; see build.sh.
package k8s
