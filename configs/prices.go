// Package configs holds the example configurations and the built-in price
// table. Only the price table is compiled in.
package configs

import _ "embed"

// Prices is configs/prices.yaml, the built-in price table.
//
//go:embed prices.yaml
var Prices []byte
