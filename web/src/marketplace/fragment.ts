// What the fulfilment URL puts in the registration page's fragment: `#ticket=mkt_…` when the
// marketplace's token was exchanged, `#error=<message>` when it was refused. The fragment is
// never sent to a server, so the ticket stays out of every access log; the page takes it out
// of the address at once, so that it is not left in the history either.

export type Arrival = { ticket: string } | { error: string } | { none: true };

// readFragment reads a location's hash ("#ticket=…", with or without the "#"). A ticket wins
// over an error; blank values count as absent.
export function readFragment(hash: string): Arrival {
  const params = new URLSearchParams(hash.startsWith("#") ? hash.slice(1) : hash);
  const ticket = params.get("ticket")?.trim();
  if (ticket) return { ticket };
  const error = params.get("error")?.trim();
  if (error) return { error };
  return { none: true };
}

// ticketFragment is the fragment that sends a ticket to the registration page.
export function ticketFragment(ticket: string): string {
  return "#" + new URLSearchParams({ ticket }).toString();
}
