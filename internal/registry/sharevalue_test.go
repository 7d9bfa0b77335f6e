package registry

import (
	"testing"
	"unsafe"
)

func TestShareValue(t *testing.T) {
	key := "/registry/pods/default/api-7c-x2"
	for _, tc := range []struct {
		v        string
		fromKey  bool
		interned bool
	}{
		{"api-7c-x2", true, false},
		{"default", false, true},
		{"x2", false, true}, // a suffix, not the name
		{"", false, false},
	} {
		got := shareValue(key, string([]byte(tc.v)))
		if got != tc.v {
			t.Fatalf("%q became %q", tc.v, got)
		}
		if tc.v == "" {
			continue
		}
		inKey := uintptr(unsafe.Pointer(unsafe.StringData(got))) >= uintptr(unsafe.Pointer(unsafe.StringData(key))) &&
			uintptr(unsafe.Pointer(unsafe.StringData(got))) < uintptr(unsafe.Pointer(unsafe.StringData(key)))+uintptr(len(key))
		if inKey != tc.fromKey {
			t.Errorf("%q: shares the key's memory = %v, want %v", tc.v, inKey, tc.fromKey)
		}
		if tc.interned && unsafe.StringData(shareValue(key, string([]byte(tc.v)))) != unsafe.StringData(got) {
			t.Errorf("%q: not interned", tc.v)
		}
	}
}
