package config

import (
	"bytes"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

// PriceFile is the format of configs/prices.yaml: upstream model name to
// list price, each entry with its source and date.
type PriceFile struct {
	// Models maps an upstream model name to its price.
	Models map[string]Price `yaml:"models"`
}

// ParsePrices decodes a price file (unknown fields are errors), fills the
// cache price defaults and validates every price.
func ParsePrices(data []byte) (map[string]Price, error) {
	var f PriceFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("prices: %w", err)
	}
	DefaultPrices(f.Models)
	ck := &checker{}
	for _, m := range sortedKeys(f.Models) {
		p := f.Models[m]
		ck.price("models."+m+".input", p.Input)
		ck.price("models."+m+".output", p.Output)
		ck.price("models."+m+".cached_input", *p.CachedInput)
		ck.price("models."+m+".cache_write", *p.CacheWrite)
	}
	if len(ck.problems) > 0 {
		return nil, fmt.Errorf("prices: %v", ck.problems)
	}
	return f.Models, nil
}

// LoadPrices reads and parses a price file.
func LoadPrices(path string) (map[string]Price, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("prices: %w", err)
	}
	return ParsePrices(data)
}

// DefaultPrices sets CachedInput and CacheWrite to Input where unset.
func DefaultPrices(m map[string]Price) {
	for k, p := range m {
		if p.CachedInput == nil {
			v := p.Input
			p.CachedInput = &v
		}
		if p.CacheWrite == nil {
			v := p.Input
			p.CacheWrite = &v
		}
		m[k] = p
	}
}
