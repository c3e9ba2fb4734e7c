import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { api, getToken, onTokenChange } from './api.ts';

export interface Me {
  id: number;
  email: string;
  name: string;
  role: 'admin' | 'agent';
}

const SessionContext = createContext<{ me: Me | null; reload: () => void }>({ me: null, reload: () => undefined });

/** Who is logged in (GET /auth/me), refreshed whenever the token changes. */
export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => onTokenChange(() => setTick((n) => n + 1)), []);
  useEffect(() => {
    if (!getToken()) {
      setMe(null);
      return;
    }
    api<{ user: Me } | Me>('GET', '/auth/me').then((r) => setMe('user' in r ? r.user : r), () => setMe(null));
  }, [tick]);
  return <SessionContext.Provider value={{ me, reload: () => setTick((n) => n + 1) }}>{children}</SessionContext.Provider>;
}

export function useSession() {
  return useContext(SessionContext);
}
