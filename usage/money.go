package usage

import "strconv"

// MicroUSD is an amount of US dollars in integer micro-dollars. It encodes
// to JSON as an exact decimal number of dollars with six decimals
// (1234 => 0.001234), so no float rounding noise ever reaches a client.
type MicroUSD int64

// String formats m as dollars with six decimals.
func (m MicroUSD) String() string { return string(m.append(nil)) }

func (m MicroUSD) append(b []byte) []byte {
	v := int64(m)
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	b = strconv.AppendInt(b, v/1_000_000, 10)
	b = append(b, '.')
	frac := v % 1_000_000
	for d := int64(100_000); d > 0; d /= 10 {
		b = append(b, byte('0'+frac/d%10))
	}
	return b
}

// MarshalJSON implements json.Marshaler.
func (m MicroUSD) MarshalJSON() ([]byte, error) { return m.append(nil), nil }
