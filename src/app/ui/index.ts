/** `kinda ui LAB` and `kinda metrics LAB` for the CLI and library users: the server with kinda's own adapters. */
import { changeLink } from "../live.js";
import { LabObserver } from "../observe.js";
import { createEnv } from "../root.js";
import { serve, type LinkAction, type Served, type ServeOptions } from "./server.js";

export { serve, edgeViews, parseListen, parseAction, type Served, type ServeOptions, type LinkAction } from "./server.js";

/** Serves the lab's page and metrics (or, with page: false, its metrics only) until `close()`. */
export async function serveLab(lab: string, opts: Omit<ServeOptions, "changeLink"> = {}): Promise<Served> {
  const { runtime, store, providers } = createEnv();
  const observer = new LabObserver(lab, { store, runtime, providers });
  observer.state(); // a lab that is not up fails here, before anything listens
  const apply = async (endpoint: string, c: LinkAction) => {
    if (c.action === "shape")
      await changeLink(
        lab,
        endpoint,
        { shape: { rate: c.rate, ...(c.burst ? { burst: c.burst } : {}), ...(c.latency ? { latency: c.latency } : {}) } },
        { store },
      );
    else if (c.action === "clear") await changeLink(lab, endpoint, { clear: true }, { store });
    else await changeLink(lab, endpoint, { state: c.action }, { store });
  };
  return serve(observer, { ...opts, changeLink: apply });
}
