/** Placeholder until the page is written. */
export function EventsPage() {
  return <section><h1>EventsPage</h1></section>;
}
