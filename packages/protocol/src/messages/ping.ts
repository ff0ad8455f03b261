/** `ws:m:ping` data: echoed unchanged by the server. */
export interface PingData {
  id: string;
  timestamp: number;
}
