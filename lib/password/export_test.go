package password

// HashesOf runs f and returns the parameters of every hash it computed.
func HashesOf(f func()) []Params {
	var seen []Params
	observe = func(p Params) { seen = append(seen, p) }
	defer func() { observe = nil }()
	f()
	return seen
}

// ParamsOf are the parameters of an encoded hash.
func ParamsOf(encoded string) Params {
	p, _, _, err := decode(encoded)
	if err != nil {
		panic(err)
	}
	return p
}
