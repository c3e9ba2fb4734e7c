/** Placeholder until the page is written. */
export function TicketView(_props: { id: number }) {
  return <section><h1>TicketView</h1></section>;
}
