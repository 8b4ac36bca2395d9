// download saves text as a file: a Blob behind an <a download>, so the file never passes
// through a server again. The URL is kept a while after the click, long enough for the
// browser to start reading it.
export function download(text: string, filename: string, type = "application/x-pem-file") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
