// Changing a key behind the service's back, as an AWS account administrator could: the local
// server's KMS stand-in (SIGNUM_KMS_URL in its demo.env) speaks KMS's JSON 1.1 protocol and
// checks no signature, so plain fetch calls do. Used to see the deployment's health and
// notices react to a disabled key.

async function kms(service, target, body) {
  const res = await fetch(service.env.SIGNUM_KMS_URL, {
    method: "POST",
    headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": `TrentService.${target}` },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`KMS ${target}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

// disableCertificateKey disables the KMS key tagged with the certificate's id
// (signum:certificate, as the certificates function tags every key it creates).
export async function disableCertificateKey({ service, certificateId }) {
  let marker;
  do {
    const page = await kms(service, "ListKeys", marker ? { Marker: marker } : {});
    for (const k of page.Keys ?? []) {
      const tags = await kms(service, "ListResourceTags", { KeyId: k.KeyId });
      if ((tags.Tags ?? []).some((t) => t.TagKey === "signum:certificate" && t.TagValue === certificateId)) {
        await kms(service, "DisableKey", { KeyId: k.KeyId });
        return k.KeyId;
      }
    }
    marker = page.Truncated ? page.NextMarker : undefined;
  } while (marker);
  throw new Error(`no KMS key is tagged with certificate ${certificateId}`);
}
