package intern

import (
	"strings"
	"testing"
	"unsafe"
)

func TestStringSharesEqualStrings(t *testing.T) {
	a := String(strings.Repeat("x", 3) + "-ns")
	b := String(string([]byte("xxx-ns")))
	if a != b || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Fatalf("equal strings not shared: %p %p", unsafe.StringData(a), unsafe.StringData(b))
	}
	if String("") != "" {
		t.Fatal("empty string changed")
	}
	ss := Strings([]string{string([]byte("f")), string([]byte("f"))})
	if unsafe.StringData(ss[0]) != unsafe.StringData(ss[1]) {
		t.Fatal("Strings did not intern in place")
	}
}

func TestLabelsShareEqualSets(t *testing.T) {
	tab := NewLabels()
	a := tab.Share(map[string]string{"app": "web", "pod-template-hash": "abc"})
	b := tab.Share(map[string]string{"pod-template-hash": "abc", "app": "web"})
	if len(b) != 2 || b["app"] != "web" {
		t.Fatalf("content changed: %v", b)
	}
	if !sameMap(a, b) {
		t.Fatal("equal sets not shared")
	}
	c := tab.Share(map[string]string{"app": "web", "pod-template-hash": "abd"})
	if sameMap(a, c) || c["pod-template-hash"] != "abd" {
		t.Fatalf("different sets shared: %v", c)
	}
	if tab.Share(nil) != nil {
		t.Fatal("nil map changed")
	}
	if m := map[string]string{}; tab.Share(m) == nil {
		t.Fatal("empty map became nil")
	}
}

func TestLabelsSurviveCollisions(t *testing.T) {
	tab := NewLabels()
	// More sets than slots: every answer still equals its question.
	for i := range 3 * labelSlots {
		k := string(rune('a' + i%26))
		v := strings.Repeat("v", i%7) + string(rune(i))
		got := tab.Share(map[string]string{k: v})
		if len(got) != 1 || got[k] != v {
			t.Fatalf("set %d: got %v", i, got)
		}
	}
}

func sameMap(a, b map[string]string) bool {
	return *(*unsafe.Pointer)(unsafe.Pointer(&a)) == *(*unsafe.Pointer)(unsafe.Pointer(&b))
}
