// api.py answers with `datetime.now().strftime("%Y-%m-%d %H:%M:%S")`: the server's local time.

export function formatLocalTime(date: Date = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}`;
}
