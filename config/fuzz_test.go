package config

import (
	"errors"
	"testing"
)

// FuzzParse: any bytes either load or fail with an error; never a panic,
// and a config that loads is fully defaulted.
func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte("server: {listen: ':1'}\nproviders: [{name: s, type: simulator}]\n"))
	f.Add([]byte("models: {a: [{provider: x}]}\nrouting: {tiers: {small: {chain: []}}}"))
	f.Add([]byte("server: [1, 2"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, fullEnv)
		if err != nil {
			var ve *ValidationError
			if errors.As(err, &ve) && len(ve.Problems) == 0 {
				t.Fatal("validation error without problems")
			}
			return
		}
		if c.Server.Listen == "" || c.Server.MaxBodyBytes <= 0 || c.Routing.Breaker.Window <= 0 {
			t.Fatalf("loaded config not defaulted: %+v", c.Server)
		}
	})
}
