package registry

import "testing"

func TestContinueRoundTrip(t *testing.T) {
	prefix := "/registry/services/default/"
	tok := encodeContinue(continueToken{Start: prefix + "web\x00", Revision: 42}, prefix)
	got, err := decodeContinue(tok, prefix)
	if err != nil || got.Start != prefix+"web\x00" || got.Revision != 42 {
		t.Fatalf("got %+v %v", got, err)
	}
	all := encodeContinue(continueToken{Start: "/registry/services/kube-system/dns\x00", Revision: 7}, "/registry/services/")
	if got, err := decodeContinue(all, "/registry/services/"); err != nil || got.Start != "/registry/services/kube-system/dns\x00" {
		t.Fatalf("all-namespaces token: %+v %v", got, err)
	}
	for _, bad := range []string{"", "!!!", "e30", "eyJzIjoieCIsInIiOjB9"} {
		if _, err := decodeContinue(bad, prefix); err == nil {
			t.Errorf("accepted bad token %q", bad)
		}
	}
}

func FuzzDecodeContinue(f *testing.F) {
	f.Add(encodeContinue(continueToken{Start: "/registry/pods/a/b", Revision: 3}, "/registry/pods/a/"))
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := decodeContinue(tok, "/registry/pods/a/")
		if err == nil && (c.Revision <= 0 || len(c.Start) < len("/registry/pods/a/")) {
			t.Fatalf("accepted %q as %+v", tok, c)
		}
	})
}
