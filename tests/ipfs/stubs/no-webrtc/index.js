// js-ipfs loads its optional WebRTC packages inside try/catch: failing here turns WebRTC off.
throw new Error('WebRTC is not available in the genim test IPFS node')
