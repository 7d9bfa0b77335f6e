package registry

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// continueToken is what a paged list hands back: where to resume and at which
// revision, so every page shows one consistent snapshot.
type continueToken struct {
	Start    string `json:"s"`
	Revision int64  `json:"r"`
}

func encodeContinue(c continueToken, prefix string) string {
	c.Start = strings.TrimPrefix(c.Start, prefix)
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(s, prefix string) (continueToken, error) {
	var c continueToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, errors.New("invalid continue token: not base64")
	}
	if err := json.Unmarshal(b, &c); err != nil || c.Revision <= 0 {
		return c, errors.New("invalid continue token")
	}
	// The start key is always read below the list's own prefix.
	c.Start = prefix + c.Start
	return c, nil
}
