package password

// DummyParams are the parameters of the hash VerifyDummy verifies against.
func DummyParams() Params {
	p, _, _, err := decode(dummyHash())
	if err != nil {
		panic(err)
	}
	return p
}

// ParamsOf are the parameters of an encoded hash.
func ParamsOf(encoded string) Params {
	p, _, _, err := decode(encoded)
	if err != nil {
		panic(err)
	}
	return p
}
