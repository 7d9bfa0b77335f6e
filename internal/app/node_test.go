package app

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestReadImageMap(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "map.yaml")
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	m, err := readImageMap(write("nginx: [python3, -m, http.server, '80']\nredis: redis-server --port 7000\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m["nginx"], []string{"python3", "-m", "http.server", "80"}) || !slices.Equal(m["redis"], []string{"/bin/sh", "-c", "redis-server --port 7000"}) {
		t.Fatalf("map: %v", m)
	}
	for _, bad := range []string{"nginx: [python3, 3]\n", "nginx: 7\n", "nginx: []\n", ": : :\n"} {
		if _, err := readImageMap(write(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := readImageMap(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("a missing file: no error")
	}
}
